"""How imports through the gateway are shown while they run and summed up when they end: the
bars of `gdtmesh import` (and so of the demo, which is an import of the sandbox's companies)
and the lines of `gdtmesh watch`.

Imports nothing heavier than the generated messages, so `gdtmesh --help` stays instant.
"""

from __future__ import annotations

import calendar
import datetime as dt
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from gdtmesh.gateway.v1 import gateway_pb2


@dataclass
class Tracked:
    """One company's import: its task once started, or why the gateway refused to start it."""

    company_id: str
    company_name: str = ""
    task_id: str = ""
    task: gateway_pb2.Task | None = None
    refused: str = ""


def all_succeeded(tracked: Sequence[Tracked]) -> bool:
    return all(
        item.task is not None and item.task.status == gateway_pb2.TASK_STATUS_SUCCEEDED
        for item in tracked
    )


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
        label = f"{item.company_id} {item.company_name or item.company_id}"[:28]
        return progress_line(label, counts_of(item.task), status_word(item.task))

    def _overall(self) -> str:
        total = sum((counts_of(item.task) for item in self._tracked), Counts())
        done = sum(1 for item in self._tracked if item.task is None or _finished(item.task))
        return progress_line(f"overall ({done}/{len(self._tracked)} done)", total, "")


def _finished(task: gateway_pb2.Task) -> bool:
    return task.status not in (gateway_pb2.TASK_STATUS_RUNNING, gateway_pb2.TASK_STATUS_UNSPECIFIED)


def print_started(tracked: Sequence[Tracked], out: TextIO) -> None:
    for item in tracked:
        shown = item.task_id or f"NOT STARTED: {item.refused}"
        print(f"{item.company_id:<15} {shown}", file=out)


def print_summary(tracked: Sequence[Tracked], out: TextIO) -> None:
    """A row per company (status, invoices found, stored, already stored, failed, and the
    manifest or why it failed) and the totals."""
    header = f"{'company':<15} {'name':<24} {'status':<10} {'in range':>8} {'stored':>7} "
    header += f"{'already':>7} {'failed':>6}  result"
    print("\n" + header, file=out)
    total = Counts()
    for item in tracked:
        counts = counts_of(item.task)
        total += counts
        print(
            f"{item.company_id:<15} {item.company_name[:24]:<24} "
            f"{status_word(item.task):<10} {counts.discovered:>8} {counts.stored:>7} "
            f"{counts.already_stored:>7} {counts.failed:>6}  {_result(item)}",
            file=out,
        )
    print(
        f"{'total':<15} {'':<24} {'':<10} {total.discovered:>8} {total.stored:>7} "
        f"{total.already_stored:>7} {total.failed:>6}",
        file=out,
        flush=True,
    )


# Per month: the portal's count for the whole calendar month (its list query is the month's),
# then the invoices of the requested range and what became of them. The two differ in a month
# the range covers in part: "portal month 65, in range 63" misses nothing.
MONTH_COLUMNS = (
    ("portal month", 12),
    ("in range", 8),
    ("stored", 7),
    ("already", 7),
    ("failed", 7),
)
PARTIAL_NOTE = "* the range covers part of this month: 'portal month' counts all of it"


def month_table(
    details: gateway_pb2.InvoiceImportDetails, flow_name: Callable[[int], str]
) -> list[str]:
    """A row per flow and month of an import, with a note under months it covers in part."""
    lines = [f"  {'flow':<22} {'month':<8}" + "".join(f" {n:>{w}}" for n, w in MONTH_COLUMNS)]
    start, end = _day(details.start_date), _day(details.end_date)
    any_partial = False
    for flow in details.flows:
        for month in flow.months:
            c = month.counts
            numbers = (c.portal_total, c.discovered, c.stored, c.already_stored, c.failed)
            partial = _covers_part(month.month.year, month.month.month, start, end)
            any_partial |= partial
            period = f"{month.month.year:04d}-{month.month.month:02d}" + ("*" if partial else "")
            cells = "".join(f" {n:>{w}}" for n, (_, w) in zip(numbers, MONTH_COLUMNS, strict=True))
            lines.append(f"  {flow_name(flow.flow):<22} {period:<8}" + cells)
    return [*lines, f"  {PARTIAL_NOTE}"] if any_partial else lines


def _day(date: object) -> dt.date | None:
    year, month, day = (getattr(date, name, 0) for name in ("year", "month", "day"))
    return dt.date(year, month, day) if year and month and day else None


def _covers_part(year: int, month: int, start: dt.date | None, end: dt.date | None) -> bool:
    first, last = dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    return bool((start and start > first) or (end and end < last))


def _result(item: Tracked) -> str:
    task = item.task
    if task is None:
        return f"not started: {item.refused}"
    if task.status == gateway_pb2.TASK_STATUS_FAILED:
        return task.failure_message
    return import_details(task).manifest_object or task.task_id
