"""The import workflow's orchestration on the real Temporal dev server, with activity doubles:
months and clipping, batches and the concurrency bound, the progress query, failures recorded,
the manifest last."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from gdtmesh.import_contract import PHASE_DOWNLOADING, PHASE_FINISHED, ImportInput, ImportProgress
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from tests.support.imports import (
    WRONG_PASSWORD,
    ImportDoubles,
    import_worker,
    make_ref,
    month_of_refs,
    refs_in,
)
from workers.imports.workflows import MAX_BATCH, DownloadPlan, InvoiceImportWorkflow

SOLD = int(Flow.FLOW_SOLD_ELECTRONIC)
PURCHASE = int(Flow.FLOW_PURCHASE_ELECTRONIC)


def spec(
    start: str, end: str, flows: list[int], *, max_concurrent: int = 10, password: str = "pw"
) -> ImportInput:
    return ImportInput(
        import_id=f"test:invoice-import:{uuid.uuid4().hex[:8]}",
        company_tax_code="0101234560",
        username="",
        password=password,
        start_date=start,
        end_date=end,
        flows=flows,
        bucket="bucket-a",
        max_concurrent_invoices=max_concurrent,
    )


@asynccontextmanager
async def running(
    client: Client, task_queue: str, portal: ImportDoubles, params: ImportInput
) -> AsyncIterator[WorkflowHandle[InvoiceImportWorkflow, ImportProgress]]:
    async with import_worker(client, task_queue, portal.activities()):
        yield await client.start_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )


async def test_import_clips_months_stores_everything_and_writes_the_manifest_last(
    temporal_client: Client, task_queue: str
) -> None:
    early, inside, late = dt.date(2025, 1, 10), dt.date(2025, 1, 20), dt.date(2025, 3, 20)
    no_xml = make_ref(dt.date(2025, 2, 3), 900, has_original=False)
    portal = ImportDoubles(
        invoices={
            (SOLD, 2025, 1): [make_ref(early, 1), make_ref(inside, 2)],
            (SOLD, 2025, 2): [*month_of_refs(2025, 2, 30, first_number=100), no_xml],
            (SOLD, 2025, 3): [make_ref(dt.date(2025, 3, 1), 3), make_ref(late, 4)],
            (PURCHASE, 2025, 2): month_of_refs(2025, 2, 5, first_number=500),
        },
    )
    portal.already_stored.add(make_ref(inside, 2))
    params = spec("2025-01-15", "2025-03-10", [SOLD, PURCHASE])

    async with running(temporal_client, task_queue, portal, params) as handle:
        result = await handle.result()

    assert result.phase == PHASE_FINISHED
    counts = {(p.flow, p.year, p.month): p for p in result.periods}
    assert sorted(counts) == [(f, 2025, m) for f in (SOLD, PURCHASE) for m in (1, 2, 3)]
    january, february = counts[(SOLD, 2025, 1)], counts[(SOLD, 2025, 2)]
    assert (january.portal_total, january.discovered) == (2, 1)  # 10 Jan is before the range
    assert (january.stored, january.already_stored) == (0, 1)
    assert (february.discovered, february.stored, february.without_original) == (31, 31, 1)
    assert counts[(SOLD, 2025, 3)].discovered == 1  # 20 Mar is after the range
    assert counts[(PURCHASE, 2025, 2)].stored == 5
    assert portal.calls.count("list_invoices") == 6  # two flows x three months
    assert sorted(refs_in(portal.batches)) == sorted(
        [
            make_ref(inside, 2),
            *month_of_refs(2025, 2, 30, first_number=100),
            no_xml,
            make_ref(dt.date(2025, 3, 1), 3),
            *month_of_refs(2025, 2, 5, first_number=500),
        ]
    )
    assert portal.calls[-1] == "write_manifest" and portal.calls.count("write_manifest") == 1
    [manifest] = portal.manifests
    assert manifest.import_id == params.import_id and manifest.bucket == "bucket-a"
    assert [m.counts for m in manifest.periods] == result.periods
    assert result.manifest_object.endswith("/manifests/import.json")
    assert portal.passwords == ["pw"]


@pytest.mark.parametrize(
    ("invoices", "max_concurrent", "overlap", "in_flight"),
    [(400, 10, 4, 8), (95, 10, 1, 10), (7, 10, 1, 7), (24, 3, 4, 3), (60, 12, 4, 12)],
)
async def test_batches_keep_at_most_max_concurrent_invoices_in_flight(
    temporal_client: Client,
    task_queue: str,
    invoices: int,
    max_concurrent: int,
    overlap: int,
    in_flight: int,
) -> None:
    plan = DownloadPlan.for_import(invoices, max_concurrent, overlap)
    portal = ImportDoubles(
        invoices={(SOLD, 2025, 5): month_of_refs(2025, 5, invoices)},
        invoice_seconds=0.001,
        overlap=overlap,
        first_wave=in_flight,
    )
    params = spec("2025-05-01", "2025-05-31", [SOLD], max_concurrent=max_concurrent)
    params.fetch_overlap = overlap

    async with running(temporal_client, task_queue, portal, params) as handle:
        result = await handle.result()

    assert all(1 <= len(batch) <= min(plan.batch_size, MAX_BATCH) for batch in portal.batches)
    assert sorted(refs_in(portal.batches)) == sorted(month_of_refs(2025, 5, invoices))
    assert portal.max_in_flight == in_flight <= max_concurrent  # used, and never exceeded
    assert result.periods[0].stored == invoices


async def test_an_expired_session_is_opened_anew_once_for_all_lanes(
    temporal_client: Client, task_queue: str
) -> None:
    portal = ImportDoubles(
        invoices={(SOLD, 2025, 6): month_of_refs(2025, 6, 40)}, expired={"session-1"}
    )
    params = spec("2025-06-01", "2025-06-30", [SOLD], max_concurrent=40)

    async with running(temporal_client, task_queue, portal, params) as handle:
        result = await handle.result()

    assert portal.sessions == ["session-1", "session-2"]
    assert result.periods[0].stored == 40


async def test_progress_query_reports_phase_and_counters_while_downloading(
    temporal_client: Client, task_queue: str
) -> None:
    gate = asyncio.Event()
    portal = ImportDoubles(
        invoices={(SOLD, 2025, 7): month_of_refs(2025, 7, 12), (PURCHASE, 2025, 7): []},
        gate=gate,
    )
    params = spec("2025-07-01", "2025-07-31", [SOLD, PURCHASE])

    async with running(temporal_client, task_queue, portal, params) as handle:
        progress = await _wait_for_phase(handle, PHASE_DOWNLOADING)
        counts = {p.flow: p for p in progress.periods}
        assert (counts[SOLD].portal_total, counts[SOLD].discovered) == (12, 12)
        assert counts[SOLD].stored == 0 and counts[PURCHASE].discovered == 0
        gate.set()
        result = await handle.result()
        final = await handle.query(InvoiceImportWorkflow.progress)

    assert result.phase == PHASE_FINISHED and {p.flow: p.stored for p in result.periods} == {
        SOLD: 12,
        PURCHASE: 0,
    }
    assert final == result


async def test_failed_invoices_are_counted_and_listed_in_the_manifest(
    temporal_client: Client, task_queue: str
) -> None:
    refs = month_of_refs(2025, 9, 10)
    portal = ImportDoubles(
        invoices={(SOLD, 2025, 9): refs},
        failing={refs[3]: "connector FetchInvoices: NOT_FOUND: no such invoice"},
    )
    params = spec("2025-09-01", "2025-09-30", [SOLD])

    async with running(temporal_client, task_queue, portal, params) as handle:
        result = await handle.result()

    [period] = result.periods
    assert (period.discovered, period.stored, period.failed) == (10, 9, 1)
    [manifest_period] = portal.manifests[0].periods
    assert [(f.invoice, f.reason) for f in manifest_period.failed] == [
        (refs[3], "connector FetchInvoices: NOT_FOUND: no such invoice")
    ]


async def test_a_refused_login_fails_the_import_with_a_clear_message(
    temporal_client: Client, task_queue: str
) -> None:
    portal = ImportDoubles()
    params = spec("2025-09-01", "2025-09-30", [SOLD], password=WRONG_PASSWORD)

    async with running(temporal_client, task_queue, portal, params) as handle:
        with pytest.raises(WorkflowFailureError) as raised:
            await handle.result()

    cause = raised.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == (
        "opening a portal session failed: "
        "connector OpenSession: UNAUTHENTICATED: wrong username or password"
    )
    assert portal.calls == ["open_session"]  # not retried, nothing else attempted


async def _wait_for_phase(
    handle: WorkflowHandle[InvoiceImportWorkflow, ImportProgress], phase: str
) -> ImportProgress:
    for _ in range(200):
        progress = await handle.query(InvoiceImportWorkflow.progress)
        if progress.phase == phase:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import never reached {phase}")
