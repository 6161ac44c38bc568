"""The demo `make run` shows: `gdtmesh import` of every unlocked sandbox company (all four flows,
every month the sandbox has data for) with its progress view and summary; then the bucket checked
invoice by invoice against the sandbox's ground truth, and where to look further."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from typing import TextIO

from gdtmesh.flows import FLOWS
from gdtmesh.vncalendar import months_between, vietnam_today
from programs.client import GatewayTarget
from programs.commands.import_ import Company, import_all
from programs.mesh.verify import MonthCheck, bucket_client, check_month, get_json
from programs.progress import all_succeeded


def sandbox_range(sandbox_url: str) -> tuple[dt.date, dt.date]:
    """The days the sandbox has invoices for: whole months up to today (Vietnam time)."""
    spec = get_json(f"{sandbox_url}/_sandbox/config")["dataset"]
    today = dt.date.fromisoformat(spec["today"]) if spec.get("today") else None
    today = today or vietnam_today()
    first = today.replace(day=1)
    for _ in range(int(spec["months"]) - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first, today


def sandbox_companies(sandbox_url: str, start: dt.date, end: dt.date) -> list[Company]:
    """The sandbox's unlocked companies as a companies.json would list them: all four flows,
    start .. end, the deployment's bucket."""
    return [
        Company(
            company_id=entry["mst"],
            company_name=entry["name"],
            username=entry["mst"],
            password=entry["password"],
            start=start,
            end=end,
            flows=tuple(info.flow for info in FLOWS),
            bucket="",
        )
        for entry in get_json(f"{sandbox_url}/_sandbox/companies")
        if not entry["locked"]
    ]


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


def print_truth(checks: Sequence[MonthCheck], out: TextIO) -> bool:
    """Per company and flow, how many invoices the sandbox's ground truth holds when the bucket
    has exactly those, each once, and nothing else ("MISMATCH" otherwise, with a line per month
    that is off). True when every month matches."""
    cells: dict[str, dict[str, list[MonthCheck]]] = {}
    for check in checks:
        cells.setdefault(check.company, {}).setdefault(check.flow_code, []).append(check)
    widths = {info.code: max(len(info.code), 9) for info in FLOWS}
    print("\nthe bucket against the sandbox's ground truth, invoices per flow:", file=out)
    print(f"{'company':<15}" + "".join(f"  {c:>{w}}" for c, w in widths.items()), file=out)
    for company, flows in cells.items():
        row = f"{company:<15}"
        for code, width in widths.items():
            months = flows.get(code, [])
            exact = all(c.exact for c in months)
            cell = f"{sum(len(c.expected) for c in months)} exact" if exact else "MISMATCH"
            row += f"  {cell if months else '-':>{width}}"
        print(row, file=out)
    wrong = [c for c in checks if not c.exact]
    if wrong:
        print(f"{len(wrong)} of {len(checks)} company-flow-months do not match:", file=out)
        for check in wrong:
            print(f"  {_mismatch(check)}", file=out)
    else:
        total = sum(len(c.expected) for c in checks)
        print(f"all {total} invoices in the bucket, each once, and nothing else", file=out)
    out.flush()
    return not wrong


def _mismatch(check: MonthCheck) -> str:
    off = (
        (len(check.missing), "missing"),
        (len(check.unexpected), "not in the truth"),
        (len(check.duplicated), "stored twice"),
        (len(check.found.bad_objects), "unreadable objects"),
    )
    shown = ", ".join(f"{count} {what}" for count, what in off if count)
    return f"{check.company} {check.flow_code} {check.year:04d}-{check.month:02d}: {shown}"


def an_invoice_object(endpoints: dict[str, str], companies: Sequence[str]) -> str:
    """One purchase invoice's detail object, to show where invoices land ("" if none)."""
    client = bucket_client(endpoints["gcs"])
    for company in companies:
        prefix = f"gdt_invoices/{company}/mua_vao_dien_tu/"
        for blob in client.list_blobs(endpoints["bucket"], prefix=prefix, max_results=1):
            return str(blob.name)
    return ""


def print_next_steps(
    endpoints: dict[str, str], task_ids: Sequence[str], out: TextIO, example_object: str = ""
) -> None:
    gateway, auth = endpoints["gateway"], endpoints["authorization"]
    example = task_ids[0] if task_ids else "<task id>"
    landed = f"\n  e.g. {example_object}" if example_object else ""
    print(
        f"""
Invoices landed in gs://{endpoints["bucket"]}/gdt_invoices/<company>/<flow>/<yyyy>/<mm>/
under their identity, <seller>-<form>-<series>-<number>.json (detail) and .xml (original){landed}
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
    """`gdtmesh import` of the sandbox's companies, then the bucket against the ground truth;
    True when every import succeeded and every month matches exactly."""
    start, end = sandbox_range(endpoints["sandbox"])
    companies = sandbox_companies(endpoints["sandbox"], start, end)
    print(f"the demo: the sandbox's companies, all four flows, {start} .. {end}", file=out)
    target = GatewayTarget(endpoints["gateway"], endpoints["api_key"])
    tracked = await import_all(companies, target, out)
    mst = [company.company_id for company in companies]
    exact = print_truth(await asyncio.to_thread(compare, endpoints, mst, start, end), out)
    example_object = await asyncio.to_thread(an_invoice_object, endpoints, mst)
    print_next_steps(
        endpoints, [item.task_id for item in tracked if item.task_id], out, example_object
    )
    return exact and all_succeeded(tracked)
