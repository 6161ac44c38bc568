"""Helpers of the storage tests: a harness over one backend and invoice bodies shaped like the
portal's (key fields, key order and types as in the real samples)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import error_details
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from programs.mesh.servers import ManagedProcess
from services.storage.gcs_store import GcsStore, gcs_client
from services.storage.local_store import LocalStore
from services.storage.objects import Digest, ObjectStore

COMPANY = "0188502671"
SELLER = "0102431848"
MAX_OBJECT_BYTES = 256 * 1024
FLOW = invoice_pb2.FLOW_PURCHASE_ELECTRONIC
FOLDER = f"gdt_invoices/{COMPANY}/mua_vao_dien_tu/2025/09/"


def new_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if kind == "gcs":
        fake_gcs: ManagedProcess = request.getfixturevalue("fake_gcs")
        return GcsStore(gcs_client("test-project", f"http://{fake_gcs.address}"), 4)
    return LocalStore(tmp_path / "buckets", 4)


@dataclass
class Harness:
    """A running service over one backend, with a fresh default bucket."""

    kind: str
    store: ObjectStore
    bucket: str
    stub: storage_pb2_grpc.StorageServiceStub

    async def names(self, prefix: str = "gdt_invoices/") -> list[str]:
        return [info.name for info in await self.store.list_objects(self.bucket, prefix)]

    async def write(
        self, request: storage_pb2.WriteInvoiceRequest
    ) -> storage_pb2.WriteInvoiceResponse:
        return await self.stub.WriteInvoice(request, timeout=30)

    async def put(self, name: str, data: bytes) -> None:
        """An object written behind the service's back (a bug, an old tool, a hand upload, an
        object stored before metadata existed), without metadata."""
        created = await self.store.create_if_absent(
            self.bucket, name, data, "application/octet-stream", Digest.of(data)
        )
        assert created is not None

    def delete(self, name: str) -> None:
        """Lose an object behind the service's back (storage itself never deletes)."""
        if isinstance(self.store, LocalStore):
            self.store._path(self.bucket, name).unlink()
        else:
            self.store._client.bucket(self.bucket).blob(name).delete()  # type: ignore[attr-defined]


def detail(
    number: int = 5104,
    *,
    series: str = "K25TEK",
    seller: str = SELLER,
    tdlap: str = "2025-09-21T17:00:00Z",
    hsgoc: str | None = "0f217870-eba6-4bb6-b140-77e0875ec3bc",
    **extra: Any,
) -> bytes:
    """A detail JSON with the portal's key fields (key order and types as the portal's)."""
    record = {
        "nbmst": seller,
        "khmshdon": 1,
        "khhdon": series,
        "shdon": number,
        "hsgoc": hsgoc,
        "tdlap": tdlap,
        "tgtttbso": 1250000,
        **extra,
    }
    return json.dumps(record, ensure_ascii=False).encode()


def xml(number: int = 5104, series: str = "K25TEK") -> bytes:
    return (
        f"<HDon><DLHDon><TTChung><KHMSHDon>1</KHMSHDon><KHHDon>{series}</KHHDon>"
        f"<SHDon>{number}</SHDon></TTChung></DLHDon></HDon>"
    ).encode()


def key(number: int = 5104, series: str = "K25TEK", seller: str = SELLER) -> invoice_pb2.InvoiceKey:
    return invoice_pb2.InvoiceKey(seller_tax_code=seller, form=1, series=series, number=number)


def summary(
    number: int = 5104, series: str = "K25TEK", seller: str = SELLER, day: int = 22
) -> invoice_pb2.InvoiceSummary:
    # tdlap 2025-09-21T17:00:00Z is 2025-09-22 in Vietnam.
    return invoice_pb2.InvoiceSummary(
        key=key(number, series, seller),
        issue_date={"year": 2025, "month": 9, "day": day},
        processing_status=5,
        invoice_status=1,
        has_original=True,
    )


def write_request(
    number: int = 5104,
    *,
    series: str = "K25TEK",
    seller: str = SELLER,
    with_xml: bool = True,
    body: bytes | None = None,
    bucket: str = "",
    fingerprint: str = "",
) -> storage_pb2.WriteInvoiceRequest:
    invoice = summary(number, series, seller)
    invoice.fingerprint = fingerprint
    return storage_pb2.WriteInvoiceRequest(
        bucket=bucket,
        company_tax_code=COMPANY,
        flow=FLOW,
        invoice=invoice,
        detail_json=body if body is not None else detail(number, series=series, seller=seller),
        original_xml=xml(number, series) if with_xml else b"",
    )


def field_violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The BadRequest field violations of a refusal, by field."""
    for item in error_details(error):  # type: ignore[arg-type]
        if isinstance(item, error_details_pb2.BadRequest):
            return {v.field: v.description for v in item.field_violations}
    raise AssertionError(f"no BadRequest in {error}")
