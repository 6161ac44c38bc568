"""A mesh started for a scenario, imports through the gateway, and the sandbox's evidence.

Imports are started through the gateway (the public API) and followed on Temporal with long
polls on each workflow's result: polling GetTask (a workflow query per call) for hundreds of
imports would load the machine the benchmark measures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.temporal import connect_temporal
from programs.bench.scenario import Scenario
from programs.client import GatewayClient
from programs.mesh.demo import sandbox_range
from programs.mesh.launcher import Mesh, start_mesh_on_free_ports
from programs.mesh.verify import get_json

START_CONCURRENCY = 16  # StartTask calls in flight while starting many imports


@contextmanager
def running_mesh(scenario: Scenario, state_dir: Path) -> Iterator[Mesh]:
    mesh = start_mesh_on_free_ports(
        state_dir,
        sandbox_args=scenario.sandbox_args(),
        extra_env=scenario.mesh_env(),
        connector_replicas=scenario.connector_replicas,
    )
    try:
        yield mesh
    finally:
        mesh.stop()


# ---- the sandbox's admin API -----------------------------------------------------------------


def post_json(url: str, body: dict[str, Any], timeout: float = 30.0) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.load(reply)


def active_companies(sandbox_url: str) -> list[dict[str, Any]]:
    """Every company that can log in (generated data sets lock a few on purpose)."""
    return [c for c in get_json(f"{sandbox_url}/_sandbox/companies") if not c["locked"]]


def sandbox_stats(sandbox_url: str) -> dict[str, Any]:
    stats: dict[str, Any] = get_json(f"{sandbox_url}/_sandbox/stats")
    return stats


def reset_stats(sandbox_url: str) -> None:
    post_json(f"{sandbox_url}/_sandbox/stats/reset", {})


@dataclass(frozen=True)
class Evidence:
    """What the sandbox saw: requests it answered, 429s, and impolite requests."""

    total: int
    throttled: int
    during_backoff: int
    over_rate: int
    violations: list[dict[str, str]]  # the sandbox's log of them (its first ones), to look into

    def politeness(self) -> dict[str, Any]:
        """The figures every run reports on how the portal was treated."""
        return {
            "throttled": self.throttled,
            "blocked_requests": self.during_backoff,
            "over_rate_requests": self.over_rate,
            "violations": self.violations,
        }

    @property
    def served(self) -> int:
        """Requests the portal did work for (everything but its 429s)."""
        return self.total - self.throttled

    @classmethod
    def of(cls, stats: dict[str, Any]) -> Evidence:
        accounts = stats["accounts"].values()
        return cls(
            total=stats["total"],
            throttled=stats["throttled"],
            during_backoff=sum(a["during_backoff"] for a in accounts),
            over_rate=sum(a["over_rate"] for a in accounts),
            violations=stats["violation_log"][:20],
        )


class StatsSampler:
    """Samples the sandbox's request counter once a second, for rates over a window."""

    def __init__(self, sandbox_url: str, interval: float = 1.0) -> None:
        self._url = sandbox_url
        self._interval = interval
        self.samples: list[tuple[float, int]] = []  # (monotonic time, requests served)

    async def run(self) -> None:
        while True:
            stats = await asyncio.to_thread(sandbox_stats, self._url)
            self.samples.append((time.monotonic(), Evidence.of(stats).served))
            await asyncio.sleep(self._interval)

    def steady_rate(self, low: float = 0.1, high: float = 0.9) -> float:
        """Requests per second between the moments `low` and `high` of the total were served:
        the rate once every import runs, without start-up and the last stragglers."""
        if len(self.samples) < 2:
            return 0.0
        final = self.samples[-1][1]
        start = next(s for s in self.samples if s[1] >= low * final)
        end = next(s for s in self.samples if s[1] >= high * final)
        return (end[1] - start[1]) / (end[0] - start[0]) if end[0] > start[0] else 0.0


# ---- imports through the gateway -------------------------------------------------------------


@dataclass
class ImportRun:
    """Imports of several companies: when they started and ended, and how."""

    started: float  # monotonic, before the first StartTask
    finished: dict[str, float] = field(default_factory=dict)  # company -> monotonic end
    tasks: dict[str, gateway_pb2.Task] = field(default_factory=dict)  # final GetTask

    @property
    def elapsed_s(self) -> float:
        return max(self.finished.values()) - self.started if self.finished else 0.0

    @property
    def failed(self) -> dict[str, str]:
        return {
            company: task.failure_message or gateway_pb2.TaskStatus.Name(task.status)
            for company, task in self.tasks.items()
            if task.status != gateway_pb2.TASK_STATUS_SUCCEEDED
        }

    def totals(
        self,
        names: Sequence[str] = ("portal_total", "discovered", "stored", "already_stored", "failed"),
    ) -> dict[str, int]:
        sums = dict.fromkeys(names, 0)
        for task in self.tasks.values():
            for flow in task.invoice_import.flows:
                for name in names:
                    sums[name] += getattr(flow.totals, name)
        return sums


async def import_all(
    mesh: Mesh,
    companies: Sequence[dict[str, Any]],
    *,
    timeout_s: float = 3600,
    bucket: str = "",
    rerun: bool = False,
) -> ImportRun:
    """Import every company (all flows, the sandbox's whole range) and wait for all of them;
    `rerun`: again, as a new task, after an import of the same range."""
    endpoints = mesh.endpoints()
    start, end = sandbox_range(endpoints["sandbox"])
    temporal = await connect_temporal(endpoints["temporal"], "default", parse_keys(mesh.codec_keys))
    run = ImportRun(started=time.monotonic())
    async with GatewayClient(endpoints["gateway"], endpoints["api_key"]) as gateway:
        ids = await _start_all(gateway, companies, start, end, bucket, rerun)
        await asyncio.wait_for(
            asyncio.gather(*(_wait_closed(temporal, run, c, i) for c, i in ids.items())),
            timeout_s,
        )
        for company, task_id in ids.items():
            run.tasks[company] = await _final_task(gateway, task_id)
    return run


async def _start_all(
    gateway: GatewayClient,
    companies: Sequence[dict[str, Any]],
    start: dt.date,
    end: dt.date,
    bucket: str,
    rerun: bool,
) -> dict[str, str]:
    limit = asyncio.Semaphore(START_CONCURRENCY)

    async def start_one(company: dict[str, Any]) -> str:
        async with limit:
            reply = await gateway.start_import(
                company["mst"], company["password"], start, end, bucket=bucket, rerun=rerun
            )
            return reply.task.task_id

    ids = await asyncio.gather(*(start_one(c) for c in companies))
    return {c["mst"]: task_id for c, task_id in zip(companies, ids, strict=True)}


async def _wait_closed(temporal: Client, run: ImportRun, company: str, task_id: str) -> None:
    """Long-poll the workflow until it closes; ride out a Temporal restart (chaos tests)."""
    handle = temporal.get_workflow_handle(task_id)
    while True:
        try:
            await handle.result()
        except WorkflowFailureError:
            pass  # the final GetTask tells how it failed
        except RPCError:
            await asyncio.sleep(1.0)
            continue
        run.finished[company] = time.monotonic()
        return


async def _final_task(gateway: GatewayClient, task_id: str) -> gateway_pb2.Task:
    last = gateway_pb2.Task()
    async for task in gateway.follow(task_id, interval=1.0):  # rides out UNAVAILABLE
        last = task
    return last


# ---- processes -------------------------------------------------------------------------------


def peak_rss_mb(mesh: Mesh) -> dict[str, float]:
    """Peak resident memory (VmHWM) of every running mesh process, in MiB."""
    peaks: dict[str, float] = {}
    for process in mesh.processes:
        status = Path(f"/proc/{process.popen.pid}/status")
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue  # not running (or not Linux)
        for line in lines:
            if line.startswith("VmHWM:"):
                peaks[process.name] = round(int(line.split()[1]) / 1024, 1)
    return peaks
