"""The demo import `make run` shows: every sandbox demo company, all four flows, every month the
sandbox has data for; a live progress view; then the bucket compared with the ground truth."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from gdtmesh.flows import FLOWS
from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.vncalendar import months_between, vietnam_today
from programs.client import GatewayClient
from programs.mesh.verify import MonthCheck, bucket_client, check_month, get_json


def sandbox_range(sandbox_url: str) -> tuple[dt.date, dt.date]:
    """The days the sandbox has invoices for: whole months up to today (Vietnam time)."""
    spec = get_json(f"{sandbox_url}/_sandbox/config")["dataset"]
    today = dt.date.fromisoformat(spec["today"]) if spec.get("today") else None
    today = today or vietnam_today()
    first = today.replace(day=1)
    for _ in range(int(spec["months"]) - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first, today


class ProgressView:
    """One line per company, redrawn in place on a terminal, appended otherwise."""

    def __init__(self, companies: Sequence[str], out: TextIO) -> None:
        self._lines = dict.fromkeys(companies, "starting")
        self._out = out
        self._tty = out.isatty()
        self._drawn = False

    def update(self, company: str) -> Callable[[gateway_pb2.Task], None]:
        def on_task(task: gateway_pb2.Task) -> None:
            line = describe(task)
            if line != self._lines[company]:
                self._lines[company] = line
                self._render(company)

        return on_task

    def _render(self, changed: str) -> None:
        if not self._tty:
            print(f"  {changed}  {self._lines[changed]}", file=self._out, flush=True)
            return
        if self._drawn:
            self._out.write(f"\x1b[{len(self._lines)}F")
        for company, line in self._lines.items():
            self._out.write(f"\x1b[2K  {company}  {line}\n")
        self._out.flush()
        self._drawn = True


def describe(task: gateway_pb2.Task) -> str:
    details = task.invoice_import
    totals = [flow.totals for flow in details.flows]
    counts = {
        name: sum(getattr(t, name) for t in totals)
        for name in ("portal_total", "discovered", "stored", "already_stored", "failed")
    }
    status = gateway_pb2.TaskStatus.Name(task.status).removeprefix("TASK_STATUS_").lower()
    phase = gateway_pb2.ImportPhase.Name(details.phase).removeprefix("IMPORT_PHASE_").lower()
    return (
        f"{status:<9} {phase:<16} portal {counts['portal_total']:>5}  found "
        f"{counts['discovered']:>5}  stored {counts['stored']:>5}  already "
        f"{counts['already_stored']:>5}  failed {counts['failed']:>3}"
    )


async def import_companies(
    endpoints: dict[str, str],
    companies: Sequence[dict[str, Any]],
    start: dt.date,
    end: dt.date,
    out: TextIO,
) -> dict[str, gateway_pb2.Task]:
    view = ProgressView([c["mst"] for c in companies], out)
    async with GatewayClient(endpoints["gateway"], endpoints["api_key"]) as client:
        started = [
            await client.start_import(c["mst"], c["password"], start, end) for c in companies
        ]
        finals = await asyncio.gather(
            *(
                client.wait(reply.task.task_id, on_update=view.update(c["mst"]))
                for c, reply in zip(companies, started, strict=True)
            )
        )
    return {c["mst"]: task for c, task in zip(companies, finals, strict=True)}


def compare(
    endpoints: dict[str, str], companies: Sequence[str], start: dt.date, end: dt.date
) -> list[MonthCheck]:
    client = bucket_client(endpoints["gcs"])
    return [
        check_month(endpoints["sandbox"], client, endpoints["bucket"], mst, info.code, y, m)
        for mst in companies
        for info in FLOWS
        for y, m in months_between(start, end)
    ]


def print_summary(checks: Sequence[MonthCheck], out: TextIO) -> bool:
    print("\ncompany         flow                    portal  stored  result", file=out)
    by_flow: dict[tuple[str, str], list[MonthCheck]] = {}
    for check in checks:
        by_flow.setdefault((check.company, check.flow_code), []).append(check)
    all_exact = True
    for (company, flow), months in by_flow.items():
        expected = sum(len(c.expected) for c in months)
        found = sum(len(c.found.details) for c in months)
        exact = all(c.exact for c in months)
        all_exact &= exact
        verdict = (
            "exact"
            if exact
            else "MISMATCH "
            + ", ".join(
                f"{c.year}-{c.month:02d}: -{len(c.missing)} +{len(c.unexpected)}"
                for c in months
                if not c.exact
            )
        )
        print(f"{company:<15} {flow:<22} {expected:>7} {found:>7}  {verdict}", file=out)
    return all_exact


def print_next_steps(endpoints: dict[str, str], task_ids: Sequence[str], out: TextIO) -> None:
    gateway, auth = endpoints["gateway"], endpoints["authorization"]
    example = task_ids[0] if task_ids else "<task id>"
    print(
        f"""
Invoices landed in gs://{endpoints["bucket"]}/gdt_invoices/<company>/<flow>/<yyyy>/<mm>/
(fake-gcs-server at {endpoints["gcs"]}; manifests under gdt_invoices/<company>/manifests/).

Look further:
  grpcurl -plaintext {gateway} list
  grpcurl -plaintext -H 'authorization: {auth}' -d '{{"task_id": "{example}"}}' \\
      {gateway} gdtmesh.gateway.v1.TaskService/GetTask
  Temporal UI: {endpoints["temporal_ui"]}
  Sandbox ground truth: {endpoints["sandbox"]}/_sandbox/companies
  Process logs: {endpoints["logs"]}
""",
        file=out,
    )


async def run_demo(endpoints: dict[str, str], out: TextIO = sys.stdout) -> bool:
    """Import every unlocked demo company; True when the bucket matches the truth exactly."""
    companies = [
        c for c in get_json(f"{endpoints['sandbox']}/_sandbox/companies") if not c["locked"]
    ]
    start, end = sandbox_range(endpoints["sandbox"])
    print(f"importing {len(companies)} companies, all four flows, {start} .. {end}", file=out)
    tasks = await import_companies(endpoints, companies, start, end, out)
    checks = await asyncio.to_thread(compare, endpoints, list(tasks), start, end)
    exact = print_summary(checks, out)
    print_next_steps(endpoints, [t.task_id for t in tasks.values()], out)
    return exact and all(t.status == gateway_pb2.TASK_STATUS_SUCCEEDED for t in tasks.values())
