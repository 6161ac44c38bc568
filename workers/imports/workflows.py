"""The invoice import workflow, and the recent-months resync built on the same engine.

Open a portal session; list every requested flow month by month (flows in parallel); download
in batches with at most `max_concurrent_invoices` invoices of the company in flight; write the
manifest last. A session the connector reports expired is opened anew (a few times at most).
Deterministic: every effect is an activity.

Scale. The work is cut into windows: one flow's calendar month, split by days when it holds more
than `MAX_LISTED` invoices, so no payload grows with the company. Activities return packed refs
and outcome codes, never invoice bodies; discovery is one activity per window, downloads one per
batch of up to 50 invoices. History per run is bounded: when the server suggests continuing as
new (or the run reaches `MAX_EVENTS_PER_RUN`), the run starts no new window, finishes the ones in
progress and continues as new with the counters, the failures and the windows still to do. The
next run lists those windows again (one portal page per 50 invoices: cheap next to two requests
per invoice downloaded) instead of carrying their refs.

Cancellation reaches the running downloads through their heartbeats; each returns what it had
settled, the manifest is written with what was done, and the workflow ends cancelled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    RetryState,
)

with workflow.unsafe.imports_passed_through():
    from gdtmesh import reasons
    from gdtmesh.flows import flow_info
    from gdtmesh.import_contract import (
        COUNTERS,
        MAX_FAILURES_KEPT,
        MAX_REASON_CHARS,
        PHASE_CANCELLED,
        PHASE_DISCOVERING,
        PHASE_DOWNLOADING,
        PHASE_FINISHED,
        PHASE_OPENING_SESSION,
        PHASE_WRITING_MANIFEST,
        PROGRESS_QUERY,
        RESYNC_WORKFLOW_NAME,
        WORKFLOW_NAME,
        FailedInvoice,
        ImportInput,
        ImportProgress,
        ImportState,
        PeriodCounts,
        PeriodFailure,
        ResyncInput,
        Window,
        resync_import,
    )
    from gdtmesh.vncalendar import month_windows
    from workers.imports.activities import ImportActivities
    from workers.imports.models import (
        MAX_LISTED,
        OUTCOME_ALREADY_STORED,
        OUTCOME_FAILED,
        OUTCOME_SKIPPED,
        OUTCOME_STORED,
        FetchBatchInput,
        FetchBatchResult,
        InvoiceOutcome,
        ListInvoicesInput,
        ListInvoicesResult,
        ManifestInput,
        ManifestPeriod,
        OpenSessionInput,
    )

MAX_BATCH = 50  # invoices per download activity
MAX_SESSION_RENEWALS = 5  # per run
# A backstop under Temporal's 10,240-event warning for servers that never suggest continuing.
MAX_EVENTS_PER_RUN = 6000

PeriodKey = tuple[int, int, int]  # flow, year, month
T = TypeVar("T")

# Retries are free in history (only the last attempt is recorded). Waiting for the portal's
# budget takes attempts but is no failure, so the portal activities count their failed attempts
# themselves (attempts.py: 5 for a login, 30 for data) and their policies only bound the waits.
# Each attempt has a deadline, and heartbeats catch a stuck one early.
_LOGIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=200,
)
_DATA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=1000,
)
_MANIFEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
_DATA_TIMEOUT = timedelta(minutes=10)
_HEARTBEAT_TIMEOUT = timedelta(minutes=2)
_GAVE_UP = (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT)


@dataclass(frozen=True)
class DownloadPlan:
    """Lanes run one batch at a time and the connector downloads up to `overlap` invoices of a
    batch at once, so at most lanes x min(batch_size, overlap) <= max_concurrent are in flight."""

    lanes: int
    batch_size: int

    @classmethod
    def for_import(cls, total: int, max_concurrent: int, overlap: int) -> DownloadPlan:
        max_concurrent, overlap = max(1, max_concurrent), max(1, overlap)
        per_batch = min(overlap, max_concurrent)
        lanes = max_concurrent // per_batch
        # A batch smaller than the overlap is the only way to keep fewer invoices in flight.
        largest = MAX_BATCH if overlap <= max_concurrent else max_concurrent
        # Big enough to keep history small, small enough to give every lane work.
        return cls(lanes, max(1, min(largest, math.ceil(total / lanes))))


def split_days(first: date, day_counts: list[int], limit: int) -> list[tuple[date, date]]:
    """Consecutive day ranges covering the window, each holding at most `limit` invoices (a
    day holding more stays alone)."""
    ranges: list[tuple[int, int]] = []
    start, held = 0, 0
    for index, count in enumerate(day_counts):
        if index > start and held + count > limit:
            ranges.append((start, index - 1))
            start, held = index, 0
        held += count
    ranges.append((start, len(day_counts) - 1))
    return [(first + timedelta(days=a), first + timedelta(days=b)) for a, b in ranges]


@dataclass(eq=False)
class _WindowWork:
    """A window being downloaded: its batches not started yet, and how many are running."""

    window: Window
    batches: deque[list[str]]
    running: int = 0


@dataclass
class _Downloads:
    """The download phase of one run: windows to start (refs None: list it first) and the
    windows started."""

    queue: deque[tuple[Window, list[str] | None]]
    active: list[_WindowWork] = field(default_factory=list)
    listing: int = 0  # windows being listed by a lane
    started: int = 0  # windows started in this run


class ImportEngine:
    """The import, shared by the workflows: state, progress query, phases."""

    def __init__(self) -> None:
        self._phase = PHASE_OPENING_SESSION
        self._windows: list[Window] = []
        self._failures: list[PeriodFailure] = []
        self._manifest_object = ""
        self._session_id = ""
        self._renewals = 0
        self._session_lock = asyncio.Lock()
        self._start_time = ""
        self._batch_size = 0
        self._runs = 1
        self._stopping = False
        self._in_flight: set[asyncio.Task[Any]] = set()

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> ImportProgress:
        return ImportProgress(self._phase, self._periods(), self._manifest_object, self._runs)

    async def _import(self, spec: ImportInput) -> ImportProgress | ImportState:
        """Run the import; returns the state to continue as new with when the run is full."""
        self._restore(spec.state)
        try:
            if not self._session_id:
                workflow.logger.info("import of %s started", spec.company_tax_code)
                self._session_id = await self._open_session(spec)
            if spec.state is None:
                self._phase = PHASE_DISCOVERING
                listed = await self._discover(spec)
            else:
                listed = [(window, None) for window in self._windows if not window.done]
            self._phase = PHASE_DOWNLOADING
            if not await self._download(spec, listed):
                workflow.logger.info("import continues as new after run %d", self._runs)
                return self._state()
            self._phase = PHASE_WRITING_MANIFEST
            self._manifest_object = await self._write_manifest(spec)
        except asyncio.CancelledError:
            await self._account_for_cancellation(spec)
            raise
        self._phase = PHASE_FINISHED
        workflow.logger.info("import of %s finished", spec.company_tax_code)
        return self.progress()

    def _restore(self, state: ImportState | None) -> None:
        if state is None:
            self._start_time = workflow.info().start_time.isoformat()
            return
        self._start_time = state.start_time
        self._session_id = state.session_id
        self._renewals = state.renewals
        self._batch_size = state.batch_size
        self._windows = state.windows
        self._failures = state.failures
        self._runs = state.runs + 1

    def _state(self) -> ImportState:
        return ImportState(
            start_time=self._start_time,
            session_id=self._session_id,
            renewals=self._renewals,
            batch_size=self._batch_size,
            windows=self._windows,
            failures=self._failures,
            runs=self._runs,
        )

    def _periods(self) -> list[PeriodCounts]:
        """The windows' counters summed per flow and month (the portal total is per month)."""
        periods: dict[PeriodKey, PeriodCounts] = {}
        for window in self._windows:
            counts = window.counts
            key = (counts.flow, counts.year, counts.month)
            if key not in periods:
                periods[key] = PeriodCounts(*key)
            period = periods[key]
            period.portal_total = max(period.portal_total, counts.portal_total)
            for name in COUNTERS:
                setattr(period, name, getattr(period, name) + getattr(counts, name))
        return [periods[key] for key in sorted(periods)]

    # -- session -------------------------------------------------------------------------------

    async def _open_session(self, spec: ImportInput) -> str:
        try:
            return await workflow.execute_activity_method(
                ImportActivities.open_session,
                OpenSessionInput(
                    spec.username or spec.company_tax_code, spec.password, spec.company_tax_code
                ),
                start_to_close_timeout=timedelta(minutes=3),
                retry_policy=_LOGIN_RETRY,
            )
        except ActivityError as error:
            raise _failed("opening a portal session", error) from None

    async def _with_session(self, spec: ImportInput, call: Callable[[str], Awaitable[T]]) -> T:
        """Run `call(session_id)`; when the connector says the session expired, open a new
        one (once for all concurrent callers) and run it again."""
        while True:
            session_id = self._session_id
            try:
                return await call(session_id)
            except ActivityError as error:
                if (
                    _error_type(error) != reasons.SESSION_EXPIRED
                    or self._renewals >= MAX_SESSION_RENEWALS
                ):
                    raise
            async with self._session_lock:
                if self._session_id == session_id:
                    workflow.logger.info("portal session expired; opening a new one")
                    self._renewals += 1
                    self._session_id = await self._open_session(spec)

    def _tracked(self, activity: asyncio.Task[T]) -> asyncio.Task[T]:
        """Keep a download-phase activity where a cancellation can reach it."""
        self._in_flight.add(activity)
        activity.add_done_callback(self._in_flight.discard)
        return activity

    # -- discovery -----------------------------------------------------------------------------

    async def _discover(self, spec: ImportInput) -> list[tuple[Window, list[str] | None]]:
        """List every window, flows in parallel, months in order."""
        months = month_windows(
            date.fromisoformat(spec.start_date), date.fromisoformat(spec.end_date)
        )
        self._windows = [
            Window(
                PeriodCounts(flow, m.year, m.month), m.first_day.isoformat(), m.last_day.isoformat()
            )
            for flow in spec.flows
            for m in months
        ]

        async def list_flow(windows: list[Window]) -> list[tuple[Window, list[str] | None]]:
            found: list[tuple[Window, list[str] | None]] = []
            for window in windows:
                found += await self._list(spec, window)
            return found

        by_flow = [[w for w in self._windows if w.counts.flow == flow] for flow in spec.flows]
        found = await asyncio.gather(*(list_flow(windows) for windows in by_flow))
        return [pair for flow_found in found for pair in flow_found]

    async def _list(
        self, spec: ImportInput, window: Window
    ) -> list[tuple[Window, list[str] | None]]:
        """List a window; one holding too many invoices for one payload is replaced by day
        windows, each listed in turn."""
        single_day = window.first_day == window.last_day
        listed = await self._list_call(spec, window, 0 if single_day else MAX_LISTED)
        window.counts.portal_total = listed.portal_total
        if not listed.day_counts:
            counts = window.counts
            counts.discovered = len(listed.invoices) + listed.unchanged
            counts.already_stored, counts.unchanged = listed.unchanged, listed.unchanged
            counts.changed, counts.new_invoices = listed.changed, listed.new_invoices
            return [(window, listed.invoices)]
        first = date.fromisoformat(window.first_day)
        parts = [
            Window(
                PeriodCounts(*_key(window), portal_total=listed.portal_total),
                start.isoformat(),
                end.isoformat(),
            )
            for start, end in split_days(first, listed.day_counts, MAX_LISTED)
        ]
        at = next(index for index, known in enumerate(self._windows) if known is window)
        self._windows[at : at + 1] = parts
        found: list[tuple[Window, list[str] | None]] = []
        for part in parts:
            found += await self._list(spec, part)
        return found

    async def _list_call(
        self, spec: ImportInput, window: Window, max_invoices: int
    ) -> ListInvoicesResult:
        flow, year, month = _key(window)

        def list_window(session_id: str) -> Awaitable[ListInvoicesResult]:
            request = ListInvoicesInput(
                session_id,
                flow,
                year,
                month,
                window.first_day,
                window.last_day,
                max_invoices,
                bucket=spec.bucket,
                company_tax_code=spec.company_tax_code,
                skip_unchanged=not spec.download_all,
            )
            return self._tracked(
                workflow.start_activity_method(
                    ImportActivities.list_invoices,
                    request,
                    start_to_close_timeout=_DATA_TIMEOUT,
                    heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                    retry_policy=_DATA_RETRY,
                )
            )

        try:
            return await self._with_session(spec, list_window)
        except ActivityError as error:
            if _cancelled(error):
                raise asyncio.CancelledError() from None
            what = f"listing {flow_info(flow).code} {year}-{month:02d}"  # type: ignore[arg-type]
            raise _failed(what, error) from None

    # -- downloads -----------------------------------------------------------------------------

    async def _download(
        self, spec: ImportInput, listed: list[tuple[Window, list[str] | None]]
    ) -> bool:
        """Download every listed window on the plan's lanes; False when the run stopped early
        to continue as new (every window it started is finished)."""
        total = sum(len(refs) for _, refs in listed if refs)
        plan = DownloadPlan.for_import(total, spec.max_concurrent_invoices, spec.fetch_overlap)
        self._batch_size = self._batch_size or plan.batch_size
        downloads = _Downloads(deque(sorted(listed, key=lambda pair: _order(pair[0]))))
        lanes = [asyncio.create_task(self._lane(spec, downloads)) for _ in range(plan.lanes)]
        try:
            await asyncio.shield(asyncio.gather(*lanes))
        except asyncio.CancelledError:
            # Stop: no new batch; running activities hear of it at their next heartbeat and
            # return what they settled, which the lanes record before they end.
            self._stopping = True
            for activity in list(self._in_flight):
                activity.cancel()
            await workflow.wait_condition(lambda: all(lane.done() for lane in lanes))
            raise
        return all(window.done for window in self._windows)

    async def _lane(self, spec: ImportInput, downloads: _Downloads) -> None:
        try:
            while (item := await self._next_batch(spec, downloads)) is not None:
                work, refs = item
                work.running += 1
                try:
                    await self._fetch(spec, work.window, refs)
                finally:
                    work.running -= 1
                if not work.batches and not work.running and work in downloads.active:
                    work.window.done = True
                    downloads.active.remove(work)
        except asyncio.CancelledError:
            if not self._stopping:  # a listing cancelled by the stop ends this lane quietly
                raise

    async def _next_batch(
        self, spec: ImportInput, downloads: _Downloads
    ) -> tuple[_WindowWork, list[str]] | None:
        """A batch of a started window, else the first batch of the next window; None when
        nothing is left for this lane (or the run is winding down)."""
        while not self._stopping:
            for work in downloads.active:
                if work.batches:
                    return work, work.batches.popleft()
            if downloads.listing:  # one window at a time: its batches will keep us busy
                await workflow.wait_condition(
                    lambda: downloads.listing == 0 or any(w.batches for w in downloads.active)
                )
                continue
            if not downloads.queue or (downloads.started and self._run_is_full()):
                return None
            await self._start_window(spec, downloads)
        return None

    async def _start_window(self, spec: ImportInput, downloads: _Downloads) -> None:
        window, refs = downloads.queue.popleft()
        downloads.started += 1
        if refs is None:  # a window of an earlier run: list it again
            downloads.listing += 1
            try:
                parts = await self._list(spec, window)
            finally:
                downloads.listing -= 1
            (window, refs), rest = parts[0], parts[1:]
            downloads.queue.extendleft(reversed(rest))
        batches = deque(_chunks(refs or [], self._batch_size))
        if batches:
            downloads.active.append(_WindowWork(window, batches))
        else:
            window.done = True

    def _run_is_full(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= MAX_EVENTS_PER_RUN
        )

    async def _fetch(self, spec: ImportInput, window: Window, refs: list[str]) -> None:
        flow = window.counts.flow

        def fetch(session_id: str) -> Awaitable[FetchBatchResult]:
            request = FetchBatchInput(session_id, spec.company_tax_code, spec.bucket, flow, refs)
            return self._tracked(
                workflow.start_activity_method(
                    ImportActivities.fetch_invoice_batch,
                    request,
                    start_to_close_timeout=_DATA_TIMEOUT,
                    heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                    retry_policy=_DATA_RETRY,
                    # Wait for the batch to answer a cancellation: it returns what it settled.
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
            )

        try:
            outcomes = (await self._with_session(spec, fetch)).outcomes
        except ActivityError as error:
            if _cancelled(error):
                return  # cancelled before it settled anything
            if error.retry_state not in _GAVE_UP:
                raise _failed("downloading invoices", error) from None
            # Retries ran out: record the batch as failed and go on; a rerun retries it.
            reason = f"download gave up: {_cause(error)}"
            outcomes = [InvoiceOutcome(OUTCOME_FAILED, reason=reason) for _ in refs]
        if len(outcomes) != len(refs):
            raise ApplicationError(
                f"download returned {len(outcomes)} outcomes for {len(refs)} invoices",
                non_retryable=True,
            )
        for ref, outcome in zip(refs, outcomes, strict=True):
            self._record(window, ref, outcome)

    def _record(self, window: Window, ref: str, outcome: InvoiceOutcome) -> None:
        counts = window.counts
        if outcome.code == OUTCOME_SKIPPED:
            return
        if outcome.code == OUTCOME_STORED:
            counts.stored += 1
        elif outcome.code == OUTCOME_ALREADY_STORED:
            counts.already_stored += 1
        else:
            counts.failed += 1
            if len(self._failures) < MAX_FAILURES_KEPT:
                failure = FailedInvoice(ref, outcome.reason[:MAX_REASON_CHARS])
                self._failures.append(PeriodFailure(*_key(window), failure))
            return
        if outcome.without_original:
            counts.without_original += 1

    # -- the end -------------------------------------------------------------------------------

    async def _write_manifest(self, spec: ImportInput) -> str:
        failed: dict[PeriodKey, list[FailedInvoice]] = {}
        for item in self._failures:
            failed.setdefault((item.flow, item.year, item.month), []).append(item.failure)
        periods = [
            ManifestPeriod(counts, failed.get((counts.flow, counts.year, counts.month), []))
            for counts in self._periods()
        ]
        request = ManifestInput(
            spec.bucket, spec.company_tax_code, spec.import_id, self._start_time, periods
        )
        try:
            return await workflow.execute_activity_method(
                ImportActivities.write_manifest,
                request,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=_MANIFEST_RETRY,
            )
        except ActivityError as error:
            raise _failed("writing the manifest", error) from None

    async def _account_for_cancellation(self, spec: ImportInput) -> None:
        """Write the manifest of what was done before the import ends cancelled."""
        workflow.logger.info("import of %s cancelled", spec.company_tax_code)
        self._stopping = True
        self._phase = PHASE_WRITING_MANIFEST
        try:
            self._manifest_object = await self._write_manifest(spec)
        except ApplicationError as error:
            workflow.logger.warning("no manifest for the cancelled import: %s", error.message)
        self._phase = PHASE_CANCELLED


@workflow.defn(name=WORKFLOW_NAME)
class InvoiceImportWorkflow(ImportEngine):
    @workflow.run
    async def run(self, spec: ImportInput) -> ImportProgress:
        outcome = await self._import(spec)
        if isinstance(outcome, ImportState):
            workflow.continue_as_new(dataclasses.replace(spec, state=outcome))
        return outcome


@workflow.defn(name=RESYNC_WORKFLOW_NAME)
class RecentMonthsResyncWorkflow(ImportEngine):
    """Import the last few months again: late purchase invoices get stored, everything else is
    found already stored. The months end on `as_of`, fixed when the resync was asked for, so
    every run of it (and a replay) covers the same days."""

    @workflow.run
    async def run(self, spec: ResyncInput) -> ImportProgress:
        outcome = await self._import(resync_import(spec))
        if isinstance(outcome, ImportState):
            workflow.continue_as_new(dataclasses.replace(spec, state=outcome))
        return outcome


WORKFLOWS = [InvoiceImportWorkflow, RecentMonthsResyncWorkflow]


def _key(window: Window) -> PeriodKey:
    return window.counts.flow, window.counts.year, window.counts.month


def _order(window: Window) -> tuple[int, int, str, int]:
    """Months in order, the flows of a month side by side (flows progress in parallel)."""
    counts = window.counts
    return counts.year, counts.month, window.first_day, counts.flow


def _chunks(refs: list[str], size: int) -> Iterable[list[str]]:
    return (refs[start : start + size] for start in range(0, len(refs), max(1, size)))


def _error_type(error: ActivityError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _cancelled(error: ActivityError) -> bool:
    return isinstance(error.cause, CancelledError)


def _cause(error: ActivityError) -> str:
    """The innermost failure message under an activity error (it names the call and code)."""
    cause: BaseException = error
    while isinstance(cause.__cause__, FailureError):
        cause = cause.__cause__
    if isinstance(cause, FailureError):
        return cause.message
    return str(cause)


def _failed(what: str, error: ActivityError) -> ApplicationError:
    """The import's failure: what it was doing and why (messages never carry secrets)."""
    return ApplicationError(
        f"{what} failed: {_cause(error)}", type="ImportFailed", non_retryable=True
    )
