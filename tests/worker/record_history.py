"""Record the import workflows' histories for the replay tests.

Run from the project root when a workflow changes on purpose and running imports may be
dropped: `.venv/bin/python tests/worker/record_history.py` rewrites tests/worker/histories/
(plain payloads: only test data in them). Scenarios: an import with a session renewal and a
failed invoice; an import that continues as new (both its runs); a cancelled import; a resync.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent.parent))

from history_budget import runs_of
from temporalio.client import Client, WorkflowHandle

from gdtmesh.import_contract import ImportInput, ResyncInput
from programs.mesh.servers import HOST, free_port, port_open, spawn, temporal_binary
from tests.support.imports import ImportDoubles, import_worker, month_of_refs
from tests.support.services import ConnectorStub, StorageStub, one_company
from workers.imports.activities import ImportActivities

HISTORIES = Path(__file__).parent / "histories"
SUGGEST_AT = 120  # the recording server suggests continuing as new early
TODAY = dt.date(2025, 12, 31)
NOW = dt.datetime(2025, 12, 31, 10, tzinfo=dt.UTC)


def start_server() -> Any:
    port = free_port()
    argv = [temporal_binary(), "server", "start-dev", "--ip", HOST, "--port", str(port)]
    argv += ["--headless", "--log-level", "warn"]
    argv += ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SUGGEST_AT}"]

    def ready() -> bool:
        health = [temporal_binary(), "operator", "cluster", "health", "--address", f"{HOST}:{port}"]
        return port_open(port) and subprocess.run(health, capture_output=True).returncode == 0

    return spawn("temporal", argv, port, ready)


def import_input(workflow_id: str, company: str, start: str, end: str, flows: list[int]) -> Any:
    return ImportInput(workflow_id, company, "", "test-only", start, end, flows, "bucket-a", 10, 4)


async def record_renewal_and_failure(client: Client) -> list[Any]:
    refs = month_of_refs(2025, 2, 30)
    portal = ImportDoubles(
        invoices={(1, 2025, 1): month_of_refs(2025, 1, 5, first_number=100), (1, 2025, 2): refs},
        failing={refs[0]: "connector FetchInvoices: NOT_FOUND: no such invoice"},
        expired={"session-1"},  # downloads renew the session once
    )
    workflow_id = (
        "recorded:invoice-import:0101234560:20250115-20250228:ban_ra_dien_tu+mua_vao_dien_tu"
    )
    spec = import_input(workflow_id, "0101234560", "2025-01-15", "2025-02-28", [1, 3])
    return await _run(client, portal.activities(), "InvoiceImport", spec, workflow_id)


async def record_continued(client: Client) -> list[Any]:
    data, company = one_company(1500, 2, seed=3, today=TODAY)
    activities = ImportActivities(ConnectorStub(data, company, NOW), StorageStub())  # type: ignore[arg-type]
    workflow_id = f"recorded:invoice-import:{company}:20251101-20251231:all"
    spec = import_input(workflow_id, company, "2025-11-01", "2025-12-31", [1, 2, 3, 4])
    return await _run(client, activities.all(), "InvoiceImport", spec, workflow_id)


async def record_cancelled(client: Client) -> list[Any]:
    data, company = one_company(600, 1, seed=5, today=TODAY)
    connector = ConnectorStub(data, company, NOW, invoice_seconds=0.02)
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    workflow_id = f"recorded:invoice-import:{company}:20251201-20251231:ban_ra_dien_tu"
    spec = import_input(workflow_id, company, "2025-12-01", "2025-12-31", [1])

    async def cancel_midway(handle: WorkflowHandle[Any, Any]) -> None:
        for _ in range(500):
            if connector.fetched >= 20:
                break
            await asyncio.sleep(0.02)
        await handle.cancel()

    return await _run(client, activities.all(), "InvoiceImport", spec, workflow_id, cancel_midway)


async def record_resync(client: Client) -> list[Any]:
    data, company = one_company(600, 2, seed=5, today=TODAY)
    activities = ImportActivities(ConnectorStub(data, company, NOW), StorageStub())  # type: ignore[arg-type]
    workflow_id = f"recorded:recent-months-resync:{company}:2m:purchases:20251231"
    spec = ResyncInput(workflow_id, company, "", "test-only", 2, "2025-12-31", [3, 4], "bucket-a")
    return await _run(client, activities.all(), "RecentMonthsResync", spec, workflow_id)


async def _run(
    client: Client,
    activities: Any,
    workflow: str,
    spec: Any,
    workflow_id: str,
    meanwhile: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None,
) -> list[Any]:
    async with import_worker(client, "record", activities):
        handle = await client.start_workflow(workflow, spec, id=workflow_id, task_queue="record")
        if meanwhile:
            await meanwhile(handle)
        try:
            await handle.result()
        except Exception as error:  # a cancelled import ends in an error, as recorded
            print(f"{workflow_id}: {type(error).__name__}")
    return await runs_of(client, workflow_id)


async def record() -> None:
    server = start_server()
    try:
        client = await Client.connect(server.address)
        scenarios = {
            "invoice_import": record_renewal_and_failure,
            "invoice_import_continued": record_continued,
            "invoice_import_cancelled": record_cancelled,
            "recent_months_resync": record_resync,
        }
        HISTORIES.mkdir(exist_ok=True)
        for name, scenario in scenarios.items():
            runs = await scenario(client)
            for number, history in enumerate(runs, start=1):
                suffix = f"_run{number}" if len(runs) > 1 else ""
                path = HISTORIES / f"{name}{suffix}.json"
                path.write_text(history.to_json())
                print(f"recorded {len(history.events)} events to {path}")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(record())
    os._exit(0)
