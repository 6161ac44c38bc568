"""The invoice import workflow.

Open a portal session; discover every requested flow month by month (flows in parallel); download
in batches with at most `max_concurrent_invoices` invoices of the company in flight; write the
manifest last. Deterministic: every effect is an activity. History stays small: discovery is one
activity per flow and month, downloads one per batch of up to 50 invoices, and activities return
packed refs and outcome codes, never invoice bodies.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from gdtmesh.flows import flow_info
    from workers.imports.activities import ImportActivities
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
        ImportInput,
        ImportProgress,
        InvoiceOutcome,
        ListInvoicesInput,
        ManifestInput,
        ManifestPeriod,
        OpenSessionInput,
        PeriodCounts,
    )
    from workers.imports.months import MonthWindow, month_windows

MAX_BATCH = 50  # invoices per download activity

PeriodKey = tuple[int, int, int]  # flow, year, month

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


def batch_size(total: int, max_concurrent: int) -> int:
    """Big enough to keep history small, small enough to give every lane work."""
    return max(1, min(MAX_BATCH, math.ceil(total / max(1, max_concurrent))))


def plan_batches(found: Mapping[PeriodKey, list[str]], max_concurrent: int) -> list[Batch]:
    """Split the discovered invoices into batches: per flow, months in order."""
    size = batch_size(sum(len(refs) for refs in found.values()), max_concurrent)
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

    @workflow.run
    async def run(self, spec: ImportInput) -> ImportProgress:
        workflow.logger.info("import of %s started", spec.company_tax_code)
        session_id = await self._open_session(spec)
        self._phase = PHASE_DISCOVERING
        found = await self._discover(spec, session_id)
        self._phase = PHASE_DOWNLOADING
        await self._download(spec, session_id, found)
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

    async def _discover(self, spec: ImportInput, session_id: str) -> dict[PeriodKey, list[str]]:
        windows = month_windows(
            date.fromisoformat(spec.start_date), date.fromisoformat(spec.end_date)
        )
        found: dict[PeriodKey, list[str]] = {}
        await asyncio.gather(
            *(self._discover_flow(session_id, flow, windows, found) for flow in spec.flows)
        )
        return found

    async def _discover_flow(
        self,
        session_id: str,
        flow: int,
        windows: list[MonthWindow],
        found: dict[PeriodKey, list[str]],
    ) -> None:
        for window in windows:
            request = ListInvoicesInput(
                session_id,
                flow,
                window.year,
                window.month,
                window.first_day.isoformat(),
                window.last_day.isoformat(),
            )
            try:
                listed = await workflow.execute_activity_method(
                    ImportActivities.list_invoices,
                    request,
                    start_to_close_timeout=_DATA_TIMEOUT,
                    heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                    retry_policy=_DATA_RETRY,
                )
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

    async def _download(
        self, spec: ImportInput, session_id: str, found: dict[PeriodKey, list[str]]
    ) -> None:
        """Run the batches on at most `max_concurrent_invoices` lanes: each lane runs one batch
        at a time and a batch downloads one invoice at a time."""
        queue = deque(plan_batches(found, spec.max_concurrent_invoices))

        async def lane() -> None:
            while queue:
                await self._fetch(spec, session_id, queue.popleft())

        lanes = min(spec.max_concurrent_invoices, len(queue))
        await asyncio.gather(*(lane() for _ in range(lanes)))

    async def _fetch(self, spec: ImportInput, session_id: str, batch: Batch) -> None:
        request = FetchBatchInput(
            session_id, spec.company_tax_code, spec.bucket, batch.flow, batch.invoices
        )
        try:
            result = await workflow.execute_activity_method(
                ImportActivities.fetch_invoice_batch,
                request,
                start_to_close_timeout=_DATA_TIMEOUT,
                heartbeat_timeout=_HEARTBEAT_TIMEOUT,
                retry_policy=_DATA_RETRY,
            )
            outcomes = result.outcomes
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
