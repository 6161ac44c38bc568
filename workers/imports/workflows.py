"""The invoice import workflow.

Open a portal session; discover every requested flow month by month (flows in parallel); download
in batches with at most `max_concurrent_invoices` invoices of the company in flight; write the
manifest last. A session the connector reports expired is opened anew (a few times at most).
Deterministic: every effect is an activity. History stays small: discovery is one
activity per flow and month, downloads one per batch of up to 50 invoices, and activities return
packed refs and outcome codes, never invoice bodies.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from gdtmesh.flows import flow_info
    from workers.imports.activities import ImportActivities
    from workers.imports.errors import SESSION_EXPIRED
    from workers.imports.models import (
        OUTCOME_ALREADY_STORED,
        OUTCOME_FAILED,
        OUTCOME_STORED,
        PHASE_DISCOVERING,
        PHASE_DOWNLOADING,
        PHASE_FINISHED,
        PHASE_OPENING_SESSION,
        PHASE_WRITING_MANIFEST,
        PROGRESS_QUERY,
        WORKFLOW_NAME,
        FailedInvoice,
        FetchBatchInput,
        FetchBatchResult,
        ImportInput,
        ImportProgress,
        InvoiceOutcome,
        ListInvoicesInput,
        ListInvoicesResult,
        ManifestInput,
        ManifestPeriod,
        OpenSessionInput,
        PeriodCounts,
    )
    from workers.imports.months import MonthWindow, month_windows

MAX_BATCH = 50  # invoices per download activity
MAX_SESSION_RENEWALS = 5  # per import

PeriodKey = tuple[int, int, int]  # flow, year, month
T = TypeVar("T")

# Retries are free in history (only the last attempt is recorded), so the data activities get
# many; each still has a deadline, and heartbeats catch a stuck one early.
_LOGIN_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1), maximum_attempts=5
)
_DATA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=30,
)
_MANIFEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
_DATA_TIMEOUT = timedelta(minutes=10)
_HEARTBEAT_TIMEOUT = timedelta(minutes=2)
_GAVE_UP = (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT)


@dataclass
class Batch:
    """One download activity's invoices (one flow), each with the period it was listed in."""

    flow: int
    invoices: list[str]
    periods: list[PeriodKey]


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


def plan_batches(found: Mapping[PeriodKey, list[str]], size: int) -> list[Batch]:
    """Split the discovered invoices into batches of `size`: per flow, months in order."""
    batches = []
    for flow in sorted({key[0] for key in found}):
        items = [(key, ref) for key in sorted(found) if key[0] == flow for ref in found[key]]
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            batches.append(Batch(flow, [ref for _, ref in chunk], [key for key, _ in chunk]))
    return batches


@workflow.defn(name=WORKFLOW_NAME)
class InvoiceImportWorkflow:
    def __init__(self) -> None:
        self._phase = PHASE_OPENING_SESSION
        self._periods: dict[PeriodKey, PeriodCounts] = {}
        self._failures: dict[PeriodKey, list[FailedInvoice]] = {}
        self._manifest_object = ""
        self._session_id = ""
        self._renewals = 0
        self._session_lock = asyncio.Lock()

    @workflow.run
    async def run(self, spec: ImportInput) -> ImportProgress:
        workflow.logger.info("import of %s started", spec.company_tax_code)
        self._session_id = await self._open_session(spec)
        self._phase = PHASE_DISCOVERING
        found = await self._discover(spec)
        self._phase = PHASE_DOWNLOADING
        await self._download(spec, found)
        self._phase = PHASE_WRITING_MANIFEST
        self._manifest_object = await self._write_manifest(spec)
        self._phase = PHASE_FINISHED
        workflow.logger.info("import of %s finished", spec.company_tax_code)
        return self.progress()

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self) -> ImportProgress:
        periods = [self._periods[key] for key in sorted(self._periods)]
        return ImportProgress(self._phase, periods, self._manifest_object)

    async def _open_session(self, spec: ImportInput) -> str:
        try:
            return await workflow.execute_activity_method(
                ImportActivities.open_session,
                OpenSessionInput(spec.username or spec.company_tax_code, spec.password),
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
                if _error_type(error) != SESSION_EXPIRED or self._renewals >= MAX_SESSION_RENEWALS:
                    raise
            async with self._session_lock:
                if self._session_id == session_id:
                    workflow.logger.info("portal session expired; opening a new one")
                    self._renewals += 1
                    self._session_id = await self._open_session(spec)

    async def _discover(self, spec: ImportInput) -> dict[PeriodKey, list[str]]:
        windows = month_windows(
            date.fromisoformat(spec.start_date), date.fromisoformat(spec.end_date)
        )
        found: dict[PeriodKey, list[str]] = {}
        await asyncio.gather(
            *(self._discover_flow(spec, flow, windows, found) for flow in spec.flows)
        )
        return found

    async def _discover_flow(
        self,
        spec: ImportInput,
        flow: int,
        windows: list[MonthWindow],
        found: dict[PeriodKey, list[str]],
    ) -> None:
        for window in windows:

            def list_month(
                session_id: str, window: MonthWindow = window
            ) -> Awaitable[ListInvoicesResult]:
                request = ListInvoicesInput(
                    session_id,
                    flow,
                    window.year,
                    window.month,
                    window.first_day.isoformat(),
                    window.last_day.isoformat(),
                )
                return workflow.execute_activity_method(
                    ImportActivities.list_invoices,
                    request,
                    start_to_close_timeout=_DATA_TIMEOUT,
                    heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                    retry_policy=_DATA_RETRY,
                )

            try:
                listed = await self._with_session(spec, list_month)
            except ActivityError as error:
                what = f"listing {flow_info(flow).code} {window.year}-{window.month:02d}"  # type: ignore[arg-type]
                raise _failed(what, error) from None
            key = (flow, window.year, window.month)
            self._periods[key] = PeriodCounts(
                flow,
                window.year,
                window.month,
                portal_total=listed.portal_total,
                discovered=len(listed.invoices),
            )
            found[key] = listed.invoices

    async def _download(self, spec: ImportInput, found: dict[PeriodKey, list[str]]) -> None:
        """Run the batches on the plan's lanes, each lane one batch at a time."""
        total = sum(len(refs) for refs in found.values())
        plan = DownloadPlan.for_import(total, spec.max_concurrent_invoices, spec.fetch_overlap)
        queue = deque(plan_batches(found, plan.batch_size))

        async def lane() -> None:
            while queue:
                await self._fetch(spec, queue.popleft())

        await asyncio.gather(*(lane() for _ in range(min(plan.lanes, len(queue)))))

    async def _fetch(self, spec: ImportInput, batch: Batch) -> None:
        def fetch(session_id: str) -> Awaitable[FetchBatchResult]:
            request = FetchBatchInput(
                session_id, spec.company_tax_code, spec.bucket, batch.flow, batch.invoices
            )
            return workflow.execute_activity_method(
                ImportActivities.fetch_invoice_batch,
                request,
                start_to_close_timeout=_DATA_TIMEOUT,
                heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                retry_policy=_DATA_RETRY,
            )

        try:
            outcomes = (await self._with_session(spec, fetch)).outcomes
        except ActivityError as error:
            if error.retry_state not in _GAVE_UP:
                raise _failed("downloading invoices", error) from None
            # Retries ran out: record the batch as failed and go on; a rerun retries it.
            reason = f"download gave up: {_cause(error)}"
            outcomes = [InvoiceOutcome(OUTCOME_FAILED, reason=reason) for _ in batch.invoices]
        if len(outcomes) != len(batch.invoices):
            raise ApplicationError(
                f"download returned {len(outcomes)} outcomes for {len(batch.invoices)} invoices",
                non_retryable=True,
            )
        for key, ref, outcome in zip(batch.periods, batch.invoices, outcomes, strict=True):
            self._record(key, ref, outcome)

    def _record(self, key: PeriodKey, ref: str, outcome: InvoiceOutcome) -> None:
        counts = self._periods[key]
        if outcome.code == OUTCOME_STORED:
            counts.stored += 1
        elif outcome.code == OUTCOME_ALREADY_STORED:
            counts.already_stored += 1
        else:
            counts.failed += 1
            self._failures.setdefault(key, []).append(FailedInvoice(ref, outcome.reason))
            return
        if outcome.without_original:
            counts.without_original += 1

    async def _write_manifest(self, spec: ImportInput) -> str:
        periods = [
            ManifestPeriod(self._periods[key], self._failures.get(key, []))
            for key in sorted(self._periods)
        ]
        request = ManifestInput(
            spec.bucket,
            spec.company_tax_code,
            spec.import_id,
            workflow.info().start_time.isoformat(),
            periods,
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


def _error_type(error: ActivityError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None


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
