"""Import many companies through the gateway, from the file operators already keep.

  gdtmesh import --companies companies.json [--endpoints-file mesh.json]

companies.json is a JSON list with one object per company:

  [{"company_id": "0101234560", "company_name": "CONG TY ...", "username": "0101234560",
    "password": "...", "date_range_start": "2025-01-01", "date_range_end": "2025-03-31",
    "flows": ["ban_ra_dien_tu", "mua_vao_dien_tu"], "gcs_bucket": "my-invoices"}]

`flows` (portal flow codes) is optional and defaults to the two electronic flows; `gcs_bucket`
is optional (the deployment's default bucket). Every import starts in StartTasks batches; the
command then follows them with a progress bar per company and one overall, and ends with a
summary table. Ctrl-C stops following, not the imports (`gdtmesh watch TASK_ID` follows one).

The gateway and API key come from --gateway/--api-key, else GDTMESH_GATEWAY/GDTMESH_API_KEY,
else the endpoints file (`gdtmesh up --endpoints-file`; ./mesh.json when present).
Exit code: 0 when every import succeeded, 1 otherwise, 2 for a bad file or setting.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from gdtmesh.flows import flow_by_code
from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.invoice.v1.invoice_pb2 import Flow

HELP = "import the companies of a companies.json through the gateway, with live progress"
DEFAULT_FLOWS = ("ban_ra_dien_tu", "mua_vao_dien_tu")
_REQUIRED = ("company_id", "password", "date_range_start", "date_range_end")
_TEXT = ("company_id", "company_name", "username", "password", "gcs_bucket")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--companies", type=Path, required=True, help="the companies JSON file")
    add_gateway_arguments(parser)
    parser.add_argument(
        "--max-concurrent-invoices",
        type=int,
        default=0,
        help="invoices of one company in flight at once (default: the gateway's, 10)",
    )
    parser.add_argument(
        "--rerun", action="store_true", help="run imports that already succeeded again"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="start the imports, print their ids and exit"
    )


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoints-file", type=Path, help="JSON written by `gdtmesh up`")
    parser.add_argument("--gateway", help="host:port of the gateway (default 127.0.0.1:50051)")
    parser.add_argument("--api-key", help="the tenant's API key")


def run(args: argparse.Namespace) -> int:
    from programs.client import GatewayTarget

    try:
        companies = load_companies(args.companies)
        target = GatewayTarget.resolve(args.gateway, args.api_key, args.endpoints_file)
    except ValueError as error:
        print(f"gdtmesh import: {error}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(import_all(companies, target, args, sys.stdout))
    except KeyboardInterrupt:
        print("\nstopped following; the imports go on (follow one: gdtmesh watch TASK_ID)")
        return 130


# -- the companies file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    company_id: str
    company_name: str
    username: str
    password: str = field(repr=False)
    start: dt.date
    end: dt.date
    flows: tuple[Flow.ValueType, ...]
    bucket: str


def load_companies(path: Path) -> list[Company]:
    """The file's companies; ValueError naming the entry and field of the first problems
    (never showing a password)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path} must hold a non-empty JSON list of companies")
    companies, problems = [], []
    for index, entry in enumerate(entries):
        try:
            companies.append(_company(entry))
        except ValueError as error:
            name = entry.get("company_id") if isinstance(entry, dict) else None
            label = f"entry {index}" + (f" ({name})" if isinstance(name, str) and name else "")
            problems.append(f"{label}: {error}")
    if problems:
        shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise ValueError(f"{path}: {len(problems)} bad entries: {shown}")
    return companies


def _company(entry: Any) -> Company:
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _REQUIRED if not entry.get(name)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for name in _TEXT:
        if name in entry and not isinstance(entry[name], str):
            raise ValueError(f"{name} must be a string")
    start, end = _day(entry, "date_range_start"), _day(entry, "date_range_end")
    if end < start:
        raise ValueError("date_range_end is before date_range_start")
    return Company(
        company_id=entry["company_id"].strip(),
        company_name=entry.get("company_name", "").strip(),
        username=entry.get("username", "").strip(),
        password=entry["password"],
        start=start,
        end=end,
        flows=_flows(entry.get("flows", list(DEFAULT_FLOWS))),
        bucket=entry.get("gcs_bucket", "").strip(),
    )


def _day(entry: dict[str, Any], name: str) -> dt.date:
    value = entry[name]
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a YYYY-MM-DD date, got {value!r}")


def _flows(value: Any) -> tuple[Flow.ValueType, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("flows must be a non-empty list of flow codes, e.g. ban_ra_dien_tu")
    try:
        return tuple(flow_by_code(code).flow for code in value)
    except ValueError as error:
        raise ValueError(f"flows: {error}") from None


# -- starting and following --------------------------------------------------------------------


@dataclass
class Tracked:
    company: Company
    task_id: str = ""
    task: gateway_pb2.Task | None = None
    refused: str = ""  # why the gateway did not start it


async def import_all(
    companies: Sequence[Company], target: Any, args: argparse.Namespace, out: TextIO
) -> int:
    from programs.client import GatewayClient, import_request

    tracked = [Tracked(company) for company in companies]
    requests = [
        import_request(
            c.company_id,
            c.password,
            c.start,
            c.end,
            c.flows,
            username=c.username,
            bucket=c.bucket,
            max_concurrent_invoices=args.max_concurrent_invoices,
            rerun=args.rerun,
        )
        for c in companies
    ]
    async with GatewayClient.to(target) as client:
        print(f"starting {len(requests)} imports at {target.address}", file=out, flush=True)
        for item, result in zip(tracked, await client.start_tasks(requests), strict=True):
            if result.status.code:
                item.refused = result.status.message
            else:
                item.task_id, item.task = result.task.task_id, result.task
        if args.no_wait:
            print_started(tracked, out)
            return 0 if all(not item.refused for item in tracked) else 1
        view = ProgressView(tracked, out)
        view.draw()
        await asyncio.gather(*(_follow(client, item, view) for item in tracked if item.task_id))
        view.draw(final=True)
    print_summary(tracked, out)
    succeeded = all(
        item.task is not None and item.task.status == gateway_pb2.TASK_STATUS_SUCCEEDED
        for item in tracked
    )
    return 0 if succeeded else 1


async def _follow(client: Any, item: Tracked, view: ProgressView) -> None:
    async for task in client.watch(item.task_id):
        item.task = task
        view.changed(item)


def print_started(tracked: Sequence[Tracked], out: TextIO) -> None:
    for item in tracked:
        shown = item.task_id or f"NOT STARTED: {item.refused}"
        print(f"{item.company.company_id:<15} {shown}", file=out)


# -- progress ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    discovered: int = 0
    stored: int = 0
    already_stored: int = 0
    failed: int = 0

    @property
    def settled(self) -> int:
        return self.stored + self.already_stored + self.failed

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.discovered + other.discovered,
            self.stored + other.stored,
            self.already_stored + other.already_stored,
            self.failed + other.failed,
        )


def counts_of(task: gateway_pb2.Task | None) -> Counts:
    if task is None:
        return Counts()
    totals = [flow.totals for flow in import_details(task).flows]
    return Counts(
        sum(t.discovered for t in totals),
        sum(t.stored for t in totals),
        sum(t.already_stored for t in totals),
        sum(t.failed for t in totals),
    )


def import_details(task: gateway_pb2.Task) -> gateway_pb2.InvoiceImportDetails:
    """The import inside any kind of task that runs one."""
    if task.WhichOneof("details") == "recent_months_resync":
        return task.recent_months_resync.progress
    return task.invoice_import


def bar(done: int, total: int, width: int = 24) -> str:
    filled = width if total and done >= total else (width * done // total if total else 0)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def status_word(task: gateway_pb2.Task | None) -> str:
    if task is None:
        return "refused"
    if task.status == gateway_pb2.TASK_STATUS_RUNNING:
        phase = gateway_pb2.ImportPhase.Name(import_details(task).phase)
        return phase.removeprefix("IMPORT_PHASE_").lower().replace("_", " ")
    return gateway_pb2.TaskStatus.Name(task.status).removeprefix("TASK_STATUS_").lower()


def progress_line(label: str, counts: Counts, word: str) -> str:
    total = counts.discovered
    share = f"{100 * counts.settled // total:>3}%" if total else "  -%"
    return f"{label:<28} {bar(counts.settled, total)} {share} {counts.settled:>6}/{total:<6} {word}"


class ProgressView:
    """A bar per company and one overall: redrawn in place on a terminal (running companies
    first when they do not all fit), one line per change otherwise."""

    def __init__(self, tracked: Sequence[Tracked], out: TextIO, min_redraw_s: float = 0.2) -> None:
        self._tracked = tracked
        self._out = out
        self._tty = out.isatty()
        self._drawn_lines = 0
        self._last_draw = 0.0
        self._min_redraw_s = min_redraw_s
        self._said: dict[str, str] = {}

    def changed(self, item: Tracked) -> None:
        if self._tty:
            if time.monotonic() - self._last_draw >= self._min_redraw_s:
                self.draw()
            return
        word = status_word(item.task)
        if self._said.get(item.task_id) != word:  # a line per status or phase change
            self._said[item.task_id] = word
            print(self._line(item), file=self._out, flush=True)

    def draw(self, final: bool = False) -> None:
        if not self._tty:
            if final:
                print(self._overall(), file=self._out, flush=True)
            return
        lines = [self._line(item) for item in self._shown()] + ["", self._overall()]
        if self._drawn_lines:
            self._out.write(f"\x1b[{self._drawn_lines}F")
        for line in lines:
            self._out.write(f"\x1b[2K{line}\n")
        self._out.flush()
        self._drawn_lines = len(lines)
        self._last_draw = time.monotonic()

    def _shown(self) -> list[Tracked]:
        room = max(3, shutil.get_terminal_size((100, 40)).lines - 4)
        if len(self._tracked) <= room:
            return list(self._tracked)
        running = [
            i for i in self._tracked if i.task and i.task.status == gateway_pb2.TASK_STATUS_RUNNING
        ]
        return (running + [i for i in self._tracked if i not in running])[:room]

    def _line(self, item: Tracked) -> str:
        name = item.company.company_name or item.company.company_id
        label = f"{item.company.company_id} {name}"[:28]
        return progress_line(label, counts_of(item.task), status_word(item.task))

    def _overall(self) -> str:
        total = sum((counts_of(item.task) for item in self._tracked), Counts())
        done = sum(1 for item in self._tracked if item.task is None or _finished(item.task))
        return progress_line(f"overall ({done}/{len(self._tracked)} done)", total, "")


def _finished(task: gateway_pb2.Task) -> bool:
    return task.status not in (gateway_pb2.TASK_STATUS_RUNNING, gateway_pb2.TASK_STATUS_UNSPECIFIED)


def print_summary(tracked: Sequence[Tracked], out: TextIO) -> None:
    header = f"{'company':<15} {'name':<24} {'status':<10} {'found':>7} {'stored':>7} "
    header += f"{'already':>7} {'failed':>6}  result"
    print("\n" + header, file=out)
    total = Counts()
    for item in tracked:
        counts = counts_of(item.task)
        total += counts
        print(
            f"{item.company.company_id:<15} {item.company.company_name[:24]:<24} "
            f"{status_word(item.task):<10} {counts.discovered:>7} {counts.stored:>7} "
            f"{counts.already_stored:>7} {counts.failed:>6}  {_result(item)}",
            file=out,
        )
    print(
        f"{'total':<15} {'':<24} {'':<10} {total.discovered:>7} {total.stored:>7} "
        f"{total.already_stored:>7} {total.failed:>6}",
        file=out,
        flush=True,
    )


def _result(item: Tracked) -> str:
    task = item.task
    if task is None:
        return f"not started: {item.refused}"
    if task.status == gateway_pb2.TASK_STATUS_FAILED:
        return task.failure_message
    return import_details(task).manifest_object or task.task_id
