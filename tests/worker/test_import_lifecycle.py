"""An import's life beyond the happy path, through the real activities (connector and storage
as in-memory stubs over a sandbox data set) on the dev server: a month too big for one payload
is listed in day windows, a cancelled import stops its downloads and leaves a manifest of what
was done, a finished import rerun on purpose writes nothing new, and a resync of the recent
months stores only the invoices that reached the portal late."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from history_budget import measure
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import CancelledError

from gdtmesh.import_contract import (
    PHASE_CANCELLED,
    PHASE_DOWNLOADING,
    ImportInput,
    ImportProgress,
    ResyncInput,
    resync_import,
)
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from sandbox.dataset import Dataset
from tests.support.imports import import_worker
from tests.support.services import ConnectorStub, StorageStub, one_company
from workers.imports.activities import ImportActivities
from workers.imports.models import MAX_LISTED
from workers.imports.workflows import (
    InvoiceImportWorkflow,
    RecentMonthsResyncWorkflow,
    split_days,
)

SOLD = int(Flow.FLOW_SOLD_ELECTRONIC)
PURCHASES = [int(Flow.FLOW_PURCHASE_ELECTRONIC), int(Flow.FLOW_PURCHASE_CASH_REGISTER)]
TODAY = dt.date(2025, 12, 31)
AT_YEAR_END = dt.datetime(2025, 12, 31, 10, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 1, 25, tzinfo=dt.UTC)


def dataset(invoices: int, months: int, seed: int = 5) -> tuple[Dataset, str]:
    return one_company(invoices, months, seed=seed, today=TODAY)


def import_input(company: str, start: str, flows: list[int], *, lanes_of: int = 10) -> ImportInput:
    return ImportInput(
        import_id=f"test:invoice-import:{uuid.uuid4().hex[:8]}",
        company_tax_code=company,
        username="",
        password="pw",
        start_date=start,
        end_date=TODAY.isoformat(),
        flows=flows,
        bucket="bucket-a",
        max_concurrent_invoices=lanes_of,
        fetch_overlap=1,
    )


@asynccontextmanager
async def worker(
    client: Client, task_queue: str, connector: ConnectorStub, storage: StorageStub
) -> AsyncIterator[None]:
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    async with import_worker(client, task_queue, activities.all()):
        yield


def test_a_big_window_is_split_into_day_ranges_under_the_limit() -> None:
    counts = [100] * 31
    counts[9] = 5000
    ranges = split_days(dt.date(2025, 1, 1), counts, 1000)
    assert ranges[0] == (dt.date(2025, 1, 1), dt.date(2025, 1, 9))
    assert (dt.date(2025, 1, 10), dt.date(2025, 1, 10)) in ranges  # too big, but alone
    assert ranges[-1][1] == dt.date(2025, 1, 31)
    days = [(end - start).days + 1 for start, end in ranges]
    assert sum(days) == 31 and len(ranges) == 5


def test_a_resync_covers_whole_months_up_to_its_day() -> None:
    spec = ResyncInput("id", "0101234560", "", "pw", 3, "2026-02-10", PURCHASES)
    params = resync_import(spec)
    assert (params.start_date, params.end_date) == ("2025-12-01", "2026-02-10")
    assert params.flows == PURCHASES and params.password == "pw"


async def test_a_month_too_big_for_one_listing_is_listed_by_days(
    temporal_client: Client, task_queue: str
) -> None:
    data, company = dataset(invoices=9000, months=1)
    connector, storage = ConnectorStub(data, company, AT_YEAR_END), StorageStub()
    params = import_input(company, "2025-12-01", [SOLD])
    expected = len(data.refs(company, "ban_ra_dien_tu", dt.date(2025, 12, 1), TODAY, AT_YEAR_END))
    assert expected > MAX_LISTED

    async with worker(temporal_client, task_queue, connector, storage):
        result = await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )
        history = await temporal_client.get_workflow_handle(params.import_id).fetch_history()

    [period] = result.periods
    assert (period.portal_total, period.discovered, period.stored) == (expected,) * 3
    listings = [
        e
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "list_invoices"
    ]
    assert len(listings) >= 3  # the month, then at least two day windows
    assert measure(history).largest_payload < 200 * 1024


async def test_a_cancelled_import_stops_its_downloads_and_accounts_for_them(
    temporal_client: Client, task_queue: str
) -> None:
    data, company = dataset(invoices=1200, months=3)
    connector = ConnectorStub(data, company, AT_YEAR_END, invoice_seconds=0.02)
    storage = StorageStub()
    params = import_input(company, "2025-10-01", [SOLD], lanes_of=2)

    async with worker(temporal_client, task_queue, connector, storage):
        handle = await temporal_client.start_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )
        await _wait_until(handle, lambda p: p.phase == PHASE_DOWNLOADING and _stored(p) >= 20)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as raised:
            await asyncio.wait_for(handle.result(), 10)
        progress = await handle.query(InvoiceImportWorkflow.progress)
        fetched_at_end = connector.fetched
        await asyncio.sleep(0.5)

    assert isinstance(raised.value.cause, CancelledError)
    assert progress.phase == PHASE_CANCELLED
    assert connector.fetched == fetched_at_end  # nothing downloads after the end
    assert 20 <= len(storage.stored) < sum(p.discovered for p in progress.periods)
    [manifest] = storage.manifests  # what was done, invoice by invoice
    assert sum(p.stored for p in manifest.periods) == len(storage.stored) == _stored(progress)
    assert progress.manifest_object == "gdt_invoices/" + company + "/manifests/1.json"


async def test_a_finished_import_rerun_on_purpose_writes_nothing_new(
    temporal_client: Client, task_queue: str
) -> None:
    data, company = dataset(invoices=600, months=2)
    connector, storage = ConnectorStub(data, company, AT_YEAR_END), StorageStub()
    params = import_input(company, "2025-11-01", [SOLD, *PURCHASES])

    async with worker(temporal_client, task_queue, connector, storage):
        first = await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )
        writes = len(storage.stored)
        again = await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run,
            params,
            id=params.import_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

    assert writes == sum(p.stored for p in first.periods) > 100
    assert len(storage.stored) == writes  # nothing new
    assert sum(p.stored for p in again.periods) == 0
    assert sum(p.already_stored for p in again.periods) == writes
    assert len(storage.manifests) == 2  # each run accounts for itself


async def test_a_resync_stores_the_purchase_invoices_that_arrived_late(
    temporal_client: Client, task_queue: str
) -> None:
    data, company = dataset(invoices=1200, months=3)
    connector, storage = ConnectorStub(data, company, AT_YEAR_END), StorageStub()
    params = import_input(company, "2025-10-01", PURCHASES)
    on_time = len(data.refs(company, "mua_vao_dien_tu", dt.date(2025, 10, 1), TODAY, AT_YEAR_END))
    by_then = len(data.refs(company, "mua_vao_dien_tu", dt.date(2025, 10, 1), TODAY, LATER))
    assert by_then > on_time

    async with worker(temporal_client, task_queue, connector, storage):
        await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )
        connector.now = LATER
        resync = ResyncInput(
            import_id=f"test:recent-months-resync:{uuid.uuid4().hex[:8]}",
            company_tax_code=company,
            username="",
            password="pw",
            months=3,
            as_of=TODAY.isoformat(),
            flows=PURCHASES,
            bucket="bucket-a",
        )
        result = await temporal_client.execute_workflow(
            RecentMonthsResyncWorkflow.run, resync, id=resync.import_id, task_queue=task_queue
        )

    assert [(p.year, p.month) for p in result.periods] == [(2025, m) for m in (10, 11, 12)] * 2
    assert sum(p.stored for p in result.periods) == by_then - on_time  # the late ones
    assert sum(p.already_stored for p in result.periods) == on_time
    assert len(storage.stored) == by_then


def _stored(progress: ImportProgress) -> int:
    return sum(p.stored for p in progress.periods)


async def _wait_until(
    handle: WorkflowHandle[InvoiceImportWorkflow, ImportProgress],
    ready: object,
) -> ImportProgress:
    for _ in range(400):
        progress = await handle.query(InvoiceImportWorkflow.progress)
        if ready(progress):  # type: ignore[operator]
            return progress
        await asyncio.sleep(0.025)
    raise AssertionError("the import never got there")
