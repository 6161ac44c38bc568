"""Replaying a recorded import history: a workflow change that would break running imports
(non-determinism) fails here. Re-record with tests/worker/record_history.py when intended."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.imports.workflows import InvoiceImportWorkflow

HISTORY = Path(__file__).parent / "histories" / "invoice_import.json"


async def test_the_recorded_import_replays() -> None:
    history = WorkflowHistory.from_json("recorded-import", HISTORY.read_text())
    assert len(history.events) > 20  # a real import: session, listing, batches, renewal, manifest

    result = await Replayer(workflows=[InvoiceImportWorkflow]).replay_workflow(history)

    assert result.replay_failure is None
