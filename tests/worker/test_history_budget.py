"""The history budget of a large company: 20,000 invoices over 12 months, imported through the
real activities (the connector and storage services are in-memory stubs over a sandbox data
set) on the real dev server. Every run stays far under Temporal's limits and every payload
under 256 KB; a rerun of the finished import writes nothing new."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from history_budget import EVENT_LIMIT, PAYLOAD_LIMIT, measure, runs_of
from temporalio.client import Client
from temporalio.worker import Worker

from gdtmesh.flows import FLOWS
from gdtmesh.import_contract import PHASE_FINISHED, ImportInput
from gdtmesh.runtime.codec import new_key_spec, parse_keys
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import HOST, ManagedProcess, free_port, port_open, spawn, temporal_binary
from sandbox.dataset import Dataset
from tests.support.services import ConnectorStub, StorageStub, one_company
from workers.imports.activities import ImportActivities
from workers.imports.workflows import WORKFLOWS, InvoiceImportWorkflow

TODAY = dt.date(2025, 12, 31)
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ALL_FLOWS = [int(info.flow) for info in FLOWS]
SUGGEST_AT = 120


@pytest.fixture(scope="module")
def large_company() -> tuple[Dataset, str, int]:
    """A sandbox company with 20,000 invoices over the 12 months of 2025."""
    dataset, company = one_company(20_000, 12, seed=7, today=TODAY)
    total = sum(
        len(dataset.refs(company, info.code, dt.date(2025, 1, 1), TODAY, NOW)) for info in FLOWS
    )
    return dataset, company, total


def import_of(company: str, import_id: str) -> ImportInput:
    return ImportInput(
        import_id=import_id,
        company_tax_code=company,
        username="",
        password="large-company-pw",
        start_date="2025-01-01",
        end_date="2025-12-31",
        flows=ALL_FLOWS,
        bucket="bucket-a",
        max_concurrent_invoices=40,
        fetch_overlap=4,
    )


async def test_a_twenty_thousand_invoice_year_stays_within_the_history_budget(
    temporal_client: Client, task_queue: str, large_company: tuple[Dataset, str, int]
) -> None:
    dataset, company, total = large_company
    assert 19_000 <= total <= 21_000
    connector = ConnectorStub(dataset, company, NOW)
    storage = StorageStub()
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    workflow_id = f"test:invoice-import:{uuid.uuid4().hex[:8]}"

    async with Worker(
        temporal_client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities.all(),
        max_concurrent_activities=20,
    ):
        began = time.monotonic()
        result = await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run,
            import_of(company, workflow_id),
            id=workflow_id,
            task_queue=task_queue,
        )
        took = time.monotonic() - began
        runs = [measure(history) for history in await runs_of(temporal_client, workflow_id)]

    print(f"\n{total} invoices in {took:.1f}s over {len(runs)} runs: {runs}")
    assert len(storage.stored) == total == connector.fetched
    assert all(run.events < EVENT_LIMIT for run in runs), runs
    assert all(run.largest_payload < PAYLOAD_LIMIT for run in runs), runs
    [manifest] = storage.manifests
    assert sum(period.stored for period in manifest.periods) == total
    assert result.phase == PHASE_FINISHED and result.runs == len(runs)
    assert sum(period.stored for period in result.periods) == total


@pytest.fixture(scope="module")
def small_runs_server() -> Iterator[ManagedProcess]:
    """A dev server that suggests continuing as new after 300 events (the default is 4 Ki)."""
    port = free_port()
    argv = [temporal_binary(), "server", "start-dev", "--ip", HOST, "--port", str(port)]
    argv += ["--headless", "--log-level", "warn"]
    argv += ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SUGGEST_AT}"]
    process = spawn("temporal-small-runs", argv, port, lambda: cluster_healthy(port))
    yield process
    process.stop()


def cluster_healthy(port: int) -> bool:
    if not port_open(port):
        return False
    command = [temporal_binary(), "operator", "cluster", "health", "--address", f"{HOST}:{port}"]
    return subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0


async def test_a_full_run_continues_as_new_without_redoing_any_invoice(
    small_runs_server: ManagedProcess, task_queue: str
) -> None:
    dataset, company = one_company(3000, 3, seed=3, today=TODAY)
    keys = parse_keys(new_key_spec())
    client = await connect_temporal(small_runs_server.address, "default", keys)
    connector = ConnectorStub(dataset, company, NOW)
    storage = StorageStub()
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    params = import_of(company, f"test:invoice-import:{uuid.uuid4().hex[:8]}")
    params.start_date = "2025-10-01"

    async with Worker(
        client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities.all()
    ):
        result = await client.execute_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )
        histories = await runs_of(client, params.import_id)
    runs = [measure(history) for history in histories]

    print(f"\n{len(storage.stored)} invoices over {len(runs)} runs: {[r.events for r in runs]}")
    assert len(runs) >= 3 and result.runs == len(runs)
    # A run stops starting windows once told, and finishes the ones it started.
    assert all(run.events < SUGGEST_AT + 150 for run in runs), runs
    assert len(storage.stored) == connector.fetched  # no invoice downloaded twice
    assert sum(p.stored for p in result.periods) == len(storage.stored) > 2500
    [manifest] = storage.manifests
    assert [(p.flow, p.month.month, p.stored) for p in manifest.periods] == [
        (p.flow, p.month, p.stored) for p in result.periods
    ]
    first_start = histories[0].events[0].event_time.ToDatetime(tzinfo=dt.UTC)
    manifest_start = manifest.start_time.ToDatetime(tzinfo=dt.UTC)
    assert abs(manifest_start - first_start) < dt.timedelta(seconds=1)  # the first run's start
