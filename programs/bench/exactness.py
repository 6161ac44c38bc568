"""The bucket against the sandbox's ground truth, for many companies at once.

Two independent readings of the same folders: `programs.mesh.verify` (each detail object's key
against the truth: missing, unexpected, duplicated, unreadable) and the storage service's
Reconcile RPC (the same, plus objects inconsistent with their names, months or originals).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from gdtmesh.flows import FLOWS
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from gdtmesh.vncalendar import months_between
from programs.mesh.verify import InvoiceKey, bucket_client, check_month

RECONCILE_TIMEOUT_S = 60.0
CONCURRENCY = 8


@dataclass
class Exactness:
    """Problems found over every folder checked (empty lists: the bucket is exact)."""

    folders: int = 0
    expected: int = 0
    found: int = 0
    missing: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (self.missing or self.duplicates or self.mismatched or self.unexpected)

    def summary(self) -> dict[str, int]:
        return {
            "folders": self.folders,
            "expected": self.expected,
            "found": self.found,
            "missing": len(self.missing),
            "duplicates": len(self.duplicates),
            "mismatched": len(self.mismatched),
            "unexpected": len(self.unexpected),
        }


async def check_bucket(
    endpoints: dict[str, str],
    companies: Sequence[str],
    start: dt.date,
    end: dt.date,
    bucket: str = "",
) -> Exactness:
    """Check every (company, flow, month) folder of `bucket` (default: the mesh's)."""
    bucket = bucket or endpoints["bucket"]
    folders = [
        (company, info, year, month)
        for company in companies
        for info in FLOWS
        for year, month in months_between(start, end)
    ]
    result = Exactness(folders=len(folders))
    client = bucket_client(endpoints["gcs"])
    limit = asyncio.Semaphore(CONCURRENCY)
    channel = open_channel(endpoints["storage"])
    storage = storage_pb2_grpc.StorageServiceStub(channel)

    async def check(
        company: str, flow: invoice_pb2.Flow.ValueType, code: str, y: int, m: int
    ) -> None:
        async with limit:
            where = f"{company}/{code}/{y:04d}-{m:02d}"
            month = await asyncio.to_thread(
                check_month, endpoints["sandbox"], client, bucket, company, code, y, m
            )
            result.expected += len(month.expected)
            result.found += len(month.expected) - len(month.missing)
            result.missing += [f"{where} {key}" for key in month.missing]
            result.duplicates += [f"{where} {key}" for key in month.duplicated]
            result.unexpected += [f"{where} {key}" for key in month.unexpected]
            result.mismatched += [f"{where} unreadable {name}" for name in month.found.bad_objects]
            reply = await storage.Reconcile(
                _reconcile_request(bucket, company, flow, y, m, month.expected),
                timeout=RECONCILE_TIMEOUT_S,
            )
            result.mismatched += [
                f"{where} {item.name}: {item.description}" for item in reply.mismatched
            ]
            result.duplicates += [f"{where} reconcile {list(d.names)}" for d in reply.duplicates]
            result.missing += [f"{where} reconcile {_key_text(k)}" for k in reply.missing]
            result.unexpected += [f"{where} reconcile {list(e.names)}" for e in reply.extra]

    try:
        await asyncio.gather(*(check(c, info.flow, info.code, y, m) for c, info, y, m in folders))
    finally:
        await channel.close()
    return result


def _reconcile_request(
    bucket: str,
    company: str,
    flow: invoice_pb2.Flow.ValueType,
    year: int,
    month: int,
    expected: set[InvoiceKey],
) -> storage_pb2.ReconcileRequest:
    return storage_pb2.ReconcileRequest(
        bucket=bucket,
        company_tax_code=company,
        flow=flow,
        month=invoice_pb2.YearMonth(year=year, month=month),
        expected=[
            invoice_pb2.InvoiceKey(seller_tax_code=seller, series=series, number=number, form=form)
            for seller, series, number, form in sorted(expected)
        ],
    )


def _key_text(key: invoice_pb2.InvoiceKey) -> str:
    return f"{key.seller_tax_code} {key.form}-{key.series}-{key.number}"
