"""GetManifest: a task's manifest read through a real storage service (a local bucket), for the
task's tenant only; FAILED_PRECONDITION until the import wrote one."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from gateway_support import (
    DEFAULT_BUCKET,
    KEY_A,
    KEY_B,
    Gateway,
    auth,
    fresh_company,
    gateway_config,
    import_request,
    rpc_code,
    wait_for,
)
from temporalio.client import Client

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.grpc_server import GrpcService
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from programs.client import GatewayTarget
from programs.commands.manifest import PERIOD_COLUMNS, fetch, print_manifest
from programs.mesh.servers import ManagedProcess
from services.storage import server as storage_server
from services.storage.config import StorageConfig
from tests.support.gateway import running_gateway
from tests.support.imports import ImportDoubles

FAILED_KEY = invoice_pb2.InvoiceKey(seller_tax_code="0101234560", form=1, series="C25TAA", number=7)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[GrpcService]:
    config = StorageConfig(
        storage_listen="127.0.0.1:0",
        storage_backend="local",
        storage_bucket=DEFAULT_BUCKET,
        storage_local_dir=str(tmp_path / "buckets"),
        storage_create_bucket=True,
    )
    service = await storage_server.start(config)
    yield service
    await service.stop(0)


@pytest.fixture
async def gateway(
    temporal_server: ManagedProcess, gateway_client: Client, storage: GrpcService
) -> AsyncIterator[Gateway]:
    config = gateway_config(
        temporal_server.address,
        f"manifest-test-{uuid.uuid4().hex[:12]}",
        storage_address=f"127.0.0.1:{storage.port}",
    )
    async with running_gateway(config, gateway_client, ImportDoubles(per_month=3)) as gateway:
        yield gateway


REPORT = storage_pb2.PeriodReport(
    flow=invoice_pb2.FLOW_SOLD_ELECTRONIC,
    month=invoice_pb2.YearMonth(year=2025, month=1),
    portal_total=3,
    discovered=3,
    stored=2,
    failed=[storage_pb2.FailedInvoice(key=FAILED_KEY, reason="portal 500 after 5 tries")],
)


async def finished_task(gateway: Gateway) -> tuple[str, str]:
    """A finished import's company and task id."""
    company = fresh_company()
    task_id = (await gateway.stub.StartTask(import_request(company), metadata=auth())).task.task_id
    await wait_for(gateway, task_id, lambda t: t.HasField("close_time"))
    return company, task_id


async def write_manifest(storage: GrpcService, company: str, task_id: str) -> None:
    """The manifest the import would have written (the doubles write none to the bucket)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{storage.port}") as channel:
        await storage_pb2_grpc.StorageServiceStub(channel).WriteManifest(
            storage_pb2.WriteManifestRequest(
                company_tax_code=company, import_id=task_id, periods=[REPORT]
            )
        )


async def test_a_tasks_manifest_lists_its_periods_and_failed_invoices(
    gateway: Gateway, storage: GrpcService
) -> None:
    company, task_id = await finished_task(gateway)
    get = pb.GetManifestRequest(task_id=task_id)
    assert await rpc_code(gateway.stub.GetManifest(get, metadata=auth())) == (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    await write_manifest(storage, company, task_id)

    reply = await gateway.stub.GetManifest(get, metadata=auth())

    assert reply.manifest_object == f"gdt_invoices/{company}/manifests/{task_id}.json"
    [period] = reply.periods
    assert (period.flow, period.month) == (REPORT.flow, REPORT.month)
    counts = (period.counts.portal_total, period.counts.discovered, period.counts.stored)
    assert counts == (3, 3, 2) and period.counts.failed == 1
    assert [(f.key, f.reason) for f in period.failed] == [(FAILED_KEY, "portal 500 after 5 tries")]
    other_tenant = gateway.stub.GetManifest(get, metadata=auth(KEY_B))
    assert await rpc_code(other_tenant) == grpc.StatusCode.NOT_FOUND


async def test_the_manifest_command_prints_a_table_csv_or_json(
    gateway: Gateway, storage: GrpcService
) -> None:
    company, task_id = await finished_task(gateway)
    await write_manifest(storage, company, task_id)
    reply = await fetch(GatewayTarget(gateway.address, KEY_A), task_id)
    printed = {}
    for form in ("table", "csv", "json"):
        out = io.StringIO()
        print_manifest(reply, form, out)
        printed[form] = out.getvalue()

    table = printed["table"].splitlines()
    assert table[0] == f"manifest: gdt_invoices/{company}/manifests/{task_id}.json"
    assert table[1].split() == list(PERIOD_COLUMNS)
    assert table[2].split() == ["ban_ra_dien_tu", "2025-01", "3", "3", "2", *"000001"]
    assert "failed invoices (1):" in table
    assert table[-1].split()[:6] == ["ban_ra_dien_tu", "2025-01", "0101234560", "1", "C25TAA", "7"]
    assert table[-1].endswith("portal 500 after 5 tries")
    periods, failures = printed["csv"].split("\n\n")
    [period] = csv.DictReader(io.StringIO(periods))
    assert period["stored"] == "2"
    [failure] = csv.DictReader(io.StringIO(failures))
    assert (failure["series"], failure["reason"]) == ("C25TAA", "portal 500 after 5 tries")
    document = json.loads(printed["json"])
    assert document["periods"][0]["failed"] == 1
    assert document["failed"][0]["reason"] == "portal 500 after 5 tries"
