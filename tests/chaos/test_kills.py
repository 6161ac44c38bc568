"""Chaos: during an import of many companies, kill -9 the connector, storage, Redis, the
Temporal dev server and the worker in turn, and start each again (Temporal on the same
database file and port; Redis empty: sessions and budgets are lost). Every import still
finishes, and the bucket matches the sandbox's ground truth exactly.

Each kill waits until the imports make progress again before the next one, so every process
dies under load. The worker and Redis go last, back to back: the activities the worker was
running are only retried once their heartbeat timeout (2 minutes in the workflow) expires, and
a login in flight on a killed worker waits out its whole start-to-close timeout (3 minutes, no
heartbeat): losing Redis earlier would send every import through a re-login while the worker is
killed, and this test past 4 minutes. Stalled or not, the imports still run when Redis dies.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from chaos_support import assert_complete_and_exact, wait_for_progress

from programs.bench.runs import (
    Evidence,
    ImportRun,
    active_companies,
    import_all,
    running_mesh,
    sandbox_stats,
)
from programs.bench.scenario import Budget, Scenario, Workload
from programs.mesh.launcher import Mesh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

# ~1,300 portal requests at 30/s: the imports outlive the kills (about 20 s).
SCENARIO = Scenario(
    Workload(companies=10, invoices=60, months=2),
    Budget(account_rate=5, account_burst=5, global_rate=30, global_burst=30),
    latency_scale=0.5,
    backoff_s=2.0,
)
# Each waits for progress after its restart; then the worker and Redis die back to back.
VICTIMS = ("gdt_connector", "storage", "temporal")
LAST_VICTIMS = ("worker", "redis")


def test_every_import_survives_kill_9_of_each_process(tmp_path: Path) -> None:
    with running_mesh(SCENARIO, tmp_path) as mesh:
        asyncio.run(_import_under_fire(mesh))


async def _import_under_fire(mesh: Mesh) -> None:
    companies = active_companies(mesh.endpoints()["sandbox"])
    imports = asyncio.create_task(import_all(mesh, companies, timeout_s=300))
    try:
        await _kill_each_in_turn(mesh, imports, companies)
    finally:
        imports.cancel()


async def _kill_each_in_turn(
    mesh: Mesh, imports: asyncio.Task[ImportRun], companies: list[dict[str, Any]]
) -> None:
    await wait_for_progress(mesh, 40)
    timeline = []
    for victim in (*VICTIMS, *LAST_VICTIMS):
        assert not imports.done(), "the imports finished before every process was killed"
        began = time.monotonic()
        mesh.kill(victim)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(mesh.restart, victim)
        if victim in VICTIMS:
            await wait_for_progress(mesh, 20)
        timeline.append((victim, round(time.monotonic() - began, 1)))
    run = await imports
    print("kill -> progress again (s):", timeline, "imports took", round(run.elapsed_s), "s")
    # Not asserted: Redis forgets the budgets and blocks, so the portal may see a burst.
    print("sandbox:", Evidence.of(sandbox_stats(mesh.endpoints()["sandbox"])))
    await assert_complete_and_exact(mesh, run, [c["mst"] for c in companies])
