"""Record the import workflow's history for the replay test.

Run from the project root when the workflow changes on purpose and running imports may be
dropped: `.venv/bin/python tests/worker/record_history.py` rewrites
tests/worker/histories/invoice_import.json (plain payloads: only test data in it).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from import_doubles import PortalDouble, month_of_refs
from temporalio.client import Client
from temporalio.worker import Worker

from gdtmesh.mesh.servers import start_temporal
from workers.imports.models import ImportInput
from workers.imports.workflows import InvoiceImportWorkflow

HISTORY = Path(__file__).parent / "histories" / "invoice_import.json"
WORKFLOW_ID = "recorded:invoice-import:0101234560:20250115-20250228:ban_ra_dien_tu+mua_vao_dien_tu"


async def record() -> None:
    server = start_temporal()
    try:
        client = await Client.connect(server.address)
        refs = month_of_refs(2025, 2, 30)
        portal = PortalDouble(
            invoices={
                (1, 2025, 1): month_of_refs(2025, 1, 5, first_number=100),
                (1, 2025, 2): refs,
            },
            failing={refs[0]: "connector FetchInvoices: NOT_FOUND: no such invoice"},
            expired={"session-1"},  # downloads renew the session once
        )
        spec = ImportInput(
            WORKFLOW_ID,
            "0101234560",
            "",
            "test-only",
            "2025-01-15",
            "2025-02-28",
            [1, 3],
            "bucket-a",
            10,
            4,
        )
        async with Worker(
            client,
            task_queue="record",
            workflows=[InvoiceImportWorkflow],
            activities=portal.activities(),
        ):
            handle = await client.start_workflow(
                InvoiceImportWorkflow.run, spec, id=WORKFLOW_ID, task_queue="record"
            )
            await handle.result()
        history = await handle.fetch_history()
        HISTORY.write_text(history.to_json())
        print(f"recorded {len(history.events)} events to {HISTORY}")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(record())
    os._exit(0)
