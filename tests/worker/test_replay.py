"""Replaying recorded histories: a workflow change that would break running imports or resyncs
(non-determinism) fails here. Re-record with tests/worker/record_history.py when intended."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.imports.workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


RECORDED = {path.stem: path.read_text() for path in HISTORIES}


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_a_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, RECORDED[name])
    assert len(history.events) > 20  # a real run: session, listings, batches, ...

    result = await Replayer(workflows=WORKFLOWS).replay_workflow(history)

    assert result.replay_failure is None


def test_every_scenario_is_recorded() -> None:
    names = set(RECORDED)
    assert {"invoice_import", "invoice_import_cancelled", "recent_months_resync"} <= names
    continued = sorted(name for name in names if name.startswith("invoice_import_continued"))
    assert len(continued) >= 2  # a run that continued as new, and the run after it
