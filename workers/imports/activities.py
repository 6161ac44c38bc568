"""The import's activities: thin gRPC clients of the connector and storage services.

Each calls a service with a deadline, maps a failed status to retry semantics (`errors.py`) and
returns small results. Invoice bodies go from the connector's FetchInvoices stream straight into
storage's WriteInvoice and never reach Temporal history (claim check). The connector downloads a
batch one invoice at a time (it streams responses in request order), so an import has as many
invoices in flight as it has running download batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from temporalio import activity
from temporalio.converter import value_to_type
from temporalio.exceptions import ApplicationError

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.invoice.v1.invoice_pb2 import InvoiceSummary, YearMonth
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from workers.imports.attempts import AttemptLog
from workers.imports.errors import rpc_failure, status_failure
from workers.imports.models import (
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
    OpenSessionInput,
)
from workers.imports.refs import fingerprint_of, identity, issue_date, key_of, pack, unpack

# A retryable per-invoice error gives the invoice this many download attempts in all, then it
# is recorded as failed (a malformed body is retried a few times, not forever).
MAX_STRIKES = 3
# Failed attempts (waiting for the portal's budget aside, see attempts.py) an activity makes
# before it gives up: a login, a month's listing, a download batch.
MAX_FAILED_LOGINS = 5
MAX_FAILED_ATTEMPTS = 30
_WRITTEN = (storage_pb2.WRITE_OUTCOME_WRITTEN, storage_pb2.WRITE_OUTCOME_NEW_VERSION)


@dataclass(frozen=True)
class RpcTimeouts:
    """Deadlines of the calls, in seconds (each below its activity's start-to-close timeout)."""

    open_session: float = 120.0  # login, captcha retries included
    list_month: float = 540.0  # every page of one month
    fetch_batch: float = 540.0  # a whole batch's download stream
    write_invoice: float = 30.0
    write_manifest: float = 60.0
    list_stored: float = 60.0  # one folder's listing


@dataclass
class BatchProgress:
    """A download batch's heartbeat details: the settled outcomes and, per invoice, how many
    attempts failed. A retried activity resumes from them instead of redoing settled invoices."""

    outcomes: list[InvoiceOutcome | None]
    strikes: list[int]
    attempts: AttemptLog = field(default_factory=AttemptLog)

    @classmethod
    def resume(cls, size: int) -> BatchProgress:
        details = activity.info().heartbeat_details
        if details:
            progress: BatchProgress = value_to_type(BatchProgress, details[0])
            if len(progress.outcomes) == size == len(progress.strikes):
                return progress
        return cls([None] * size, [0] * size)

    def pending(self) -> list[int]:
        return [index for index, outcome in enumerate(self.outcomes) if outcome is None]

    def strike(self, index: int, problem: ApplicationError) -> ApplicationError | None:
        """Note a failed download; return the problem when the invoice stays pending."""
        if problem.non_retryable:
            self.outcomes[index] = InvoiceOutcome(OUTCOME_FAILED, reason=problem.message)
            return None
        if problem.type != grpc.StatusCode.RESOURCE_EXHAUSTED.name:
            # Waiting for the portal's budget says nothing about the invoice; anything else does.
            self.strikes[index] += 1
            if self.strikes[index] >= MAX_STRIKES:
                reason = f"{problem.message} (after {MAX_STRIKES} attempts)"
                self.outcomes[index] = InvoiceOutcome(OUTCOME_FAILED, reason=reason)
                return None
        return problem

    def settled(self) -> list[InvoiceOutcome]:
        assert not self.pending(), "a batch result needs every invoice settled"
        return [outcome for outcome in self.outcomes if outcome is not None]

    def give_up(self, why: str) -> list[InvoiceOutcome]:
        """The outcomes, the unsettled ones as failed for `why`."""
        return [outcome or InvoiceOutcome(OUTCOME_FAILED, reason=why) for outcome in self.outcomes]

    def so_far(self) -> list[InvoiceOutcome]:
        """The outcomes, the unsettled ones as skipped (the import was cancelled)."""
        return [outcome or InvoiceOutcome(OUTCOME_SKIPPED) for outcome in self.outcomes]


@dataclass
class ListingProgress:
    """A listing's heartbeat details (after the attempt log): what its pages gave so far and
    the connector's token to go on after the last one. Refs are kept only while the window may
    still be returned whole (`max_invoices`); beyond, only the days count."""

    resume_token: str = ""
    portal_total: int = 0
    listed: int = 0
    kept: list[str] = field(default_factory=list)
    days: dict[str, int] = field(default_factory=dict)  # kept invoices per issue day

    @classmethod
    def resume(cls) -> ListingProgress:
        details = activity.info().heartbeat_details
        if len(details) > 1:
            progress: ListingProgress = value_to_type(ListingProgress, details[1])
            return progress
        return cls()

    def keep(self, ref: str, day: dt.date, max_invoices: int) -> None:
        self.days[day.isoformat()] = self.days.get(day.isoformat(), 0) + 1
        if max_invoices and self.kept_count() > max_invoices:
            self.kept = []  # the window is split by days: the refs would only be dropped
        else:
            self.kept.append(ref)

    def kept_count(self) -> int:
        return sum(self.days.values())


class ImportActivities:
    """The import's activities, given the service stubs they call."""

    def __init__(
        self,
        connector: gdt_connector_pb2_grpc.GdtConnectorServiceAsyncStub,
        storage: storage_pb2_grpc.StorageServiceAsyncStub,
        timeouts: RpcTimeouts = RpcTimeouts(),
    ) -> None:
        self._connector = connector
        self._storage = storage
        self._timeouts = timeouts

    def all(self) -> Sequence[Callable[..., Any]]:
        """The activity methods, to register with a worker."""
        return [
            self.open_session,
            self.list_invoices,
            self.fetch_invoice_batch,
            self.write_manifest,
        ]

    @activity.defn(name="open_session")
    async def open_session(self, params: OpenSessionInput) -> str:
        """Log in to the portal; returns the connector's opaque session handle. The connector
        refuses (FAILED_PRECONDITION, non-retryable: the import fails at once, nothing listed or
        stored) a portal account that is not the company's own."""
        attempts = _attempts_left("connector OpenSession", MAX_FAILED_LOGINS)
        request = gdt_connector_pb2.OpenSessionRequest(
            username=params.username,
            password=params.password,
            company_tax_code=params.company_tax_code,
        )
        try:
            reply = await self._connector.OpenSession(request, timeout=self._timeouts.open_session)
        except grpc.aio.AioRpcError as error:
            problem = rpc_failure("connector OpenSession", error, secrets=(params.password,))
            raise _ended(attempts, problem) from None
        return reply.session_id

    @activity.defn(name="list_invoices")
    async def list_invoices(self, params: ListInvoicesInput) -> ListInvoicesResult:
        """List one flow's month; keep the distinct invoices issued within the window. A retry
        after the portal's budget ran out (or a lost worker) resumes after the last page the
        earlier attempt received (its heartbeat), not from page 1."""
        attempts = _attempts_left("connector ListInvoices", MAX_FAILED_ATTEMPTS)
        listing = ListingProgress.resume()
        try:
            await self._list_pages(params, attempts, listing)
        except grpc.aio.AioRpcError as error:
            if not listing.resume_token or error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise self._listing_ended(attempts, listing, error) from None
            # The portal may have forgotten an old position: this attempt starts again.
            listing = ListingProgress()
            try:
                await self._list_pages(params, attempts, listing)
            except grpc.aio.AioRpcError as error:
                raise self._listing_ended(attempts, listing, error) from None
        if 0 < params.max_invoices < listing.kept_count():
            days = [dt.date.fromisoformat(day) for day, n in listing.days.items() for _ in range(n)]
            return ListInvoicesResult(
                listing.portal_total,
                listing.listed,
                invoices=[],
                day_counts=_day_counts(params, days),
            )
        result = ListInvoicesResult(
            portal_total=listing.portal_total, listed=listing.listed, invoices=listing.kept
        )
        if params.skip_unchanged and params.company_tax_code:
            await self._leave_out_unchanged(params, result, attempts)
        return result

    async def _list_pages(
        self, params: ListInvoicesInput, attempts: AttemptLog, listing: ListingProgress
    ) -> None:
        """Read the listing's pages into `listing` (from where it stands), heartbeating it."""
        request = gdt_connector_pb2.ListInvoicesRequest(
            session_id=params.session_id,
            flow=params.flow,  # type: ignore[arg-type]
            month=YearMonth(year=params.year, month=params.month),
            resume_token=listing.resume_token,
        )
        within = _window_test(params)
        # Distinct within this attempt; across a resumption the connector's pages do not repeat.
        seen = {key_of(ref) for ref in listing.kept}
        call = self._connector.ListInvoices(request, timeout=self._timeouts.list_month)
        try:
            async for page in call:
                listing.portal_total = max(listing.portal_total, page.portal_total)
                for summary in page.invoices:
                    ref = _pack_listed(summary)
                    if key_of(ref) in seen:
                        continue
                    seen.add(key_of(ref))
                    listing.listed += 1
                    if within(issue_date(summary)):
                        listing.keep(ref, issue_date(summary), params.max_invoices)
                listing.resume_token = page.resume_token
                activity.heartbeat(attempts, listing)
        finally:
            call.cancel()

    @staticmethod
    def _listing_ended(
        attempts: AttemptLog, listing: ListingProgress, error: grpc.aio.AioRpcError
    ) -> ApplicationError:
        """The attempt's failure; the listing so far is kept for the retry only when the
        portal's budget stopped it (any other failure starts the next attempt from page 1)."""
        problem = rpc_failure("connector ListInvoices", error)
        attempts.ended(problem)
        waited = error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        activity.heartbeat(attempts, listing if waited else ListingProgress())
        return problem

    async def _leave_out_unchanged(
        self, params: ListInvoicesInput, result: ListInvoicesResult, attempts: AttemptLog
    ) -> None:
        """Keep in `result` only the invoices to download: new ones, and those the bucket holds
        incomplete or under another list row (one ListStored call for the window's folder)."""
        request = storage_pb2.ListStoredRequest(
            bucket=params.bucket,
            company_tax_code=params.company_tax_code,
            flow=params.flow,  # type: ignore[arg-type]
            month=YearMonth(year=params.year, month=params.month),
        )
        try:
            reply = await self._storage.ListStored(request, timeout=self._timeouts.list_stored)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:  # an older storage: fetch all
                return
            raise _ended(attempts, rpc_failure("storage ListStored", error)) from None
        held = {identity(item.key): item for item in reply.invoices}
        wanted: list[str] = []
        for ref in result.invoices:
            stored = held.get(key_of(ref))
            fingerprint = fingerprint_of(ref)
            if stored is not None and stored.complete and fingerprint == stored.fingerprint != "":
                result.unchanged += 1
                continue
            result.changed += stored is not None
            result.new_invoices += stored is None
            wanted.append(ref)
        result.invoices = wanted

    @activity.defn(name="fetch_invoice_batch")
    async def fetch_invoice_batch(self, params: FetchBatchInput) -> FetchBatchResult:
        """Download a batch and store each invoice; returns one outcome per invoice. When the
        import is cancelled (the request arrives with a heartbeat), returns what was settled
        and the rest as skipped, so the manifest accounts for what was done."""
        progress = BatchProgress.resume(len(params.invoices))
        if why := progress.attempts.gave_up(MAX_FAILED_ATTEMPTS):
            return FetchBatchResult(outcomes=progress.give_up(f"download {why}"))
        try:
            problem = await self._download(params, progress)
            if problem is not None:
                progress.attempts.ended(problem)
        except ApplicationError as error:
            progress.attempts.ended(error)
            raise
        except asyncio.CancelledError:
            details = activity.cancellation_details()
            if details is None or not details.cancel_requested:
                raise  # a worker shutdown or a timeout: the batch is retried
            return FetchBatchResult(outcomes=progress.so_far())
        finally:
            activity.heartbeat(progress)  # what a retry resumes from
        if problem is not None:
            raise problem
        return FetchBatchResult(outcomes=progress.settled())

    @activity.defn(name="write_manifest")
    async def write_manifest(self, params: ManifestInput) -> str:
        """Write the import's manifest (last); returns the manifest object's name."""
        start_time = timestamp_pb2.Timestamp()
        start_time.FromDatetime(dt.datetime.fromisoformat(params.start_time))
        request = storage_pb2.WriteManifestRequest(
            bucket=params.bucket,
            company_tax_code=params.company_tax_code,
            import_id=params.import_id,
            start_time=start_time,
            periods=[
                storage_pb2.PeriodReport(
                    flow=period.counts.flow,  # type: ignore[arg-type]
                    month=YearMonth(year=period.counts.year, month=period.counts.month),
                    portal_total=period.counts.portal_total,
                    discovered=period.counts.discovered,
                    stored=period.counts.stored,
                    already_stored=period.counts.already_stored,
                    without_original=period.counts.without_original,
                    unchanged=period.counts.unchanged,
                    changed=period.counts.changed,
                    new_invoices=period.counts.new_invoices,
                    failed=[
                        storage_pb2.FailedInvoice(key=unpack(item.invoice).key, reason=item.reason)
                        for item in period.failed
                    ],
                )
                for period in params.periods
            ],
        )
        try:
            reply = await self._storage.WriteManifest(
                request, timeout=self._timeouts.write_manifest
            )
        except grpc.aio.AioRpcError as error:
            raise rpc_failure("storage WriteManifest", error) from None
        return reply.manifest.name

    async def _download(
        self, params: FetchBatchInput, progress: BatchProgress
    ) -> ApplicationError | None:
        """Fetch the pending invoices and store them; return why some are still pending."""
        pending = progress.pending()
        if not pending:
            return None
        summaries = [unpack(params.invoices[index]) for index in pending]
        request = gdt_connector_pb2.FetchInvoicesRequest(
            session_id=params.session_id,
            flow=params.flow,  # type: ignore[arg-type]
            invoices=summaries,
        )
        still_pending: ApplicationError | None = None
        received = 0
        call = self._connector.FetchInvoices(request, timeout=self._timeouts.fetch_batch)
        try:
            async for response in call:
                if received == len(summaries) or response.invoice.key != summaries[received].key:
                    raise ApplicationError(
                        "connector FetchInvoices answered out of request order",
                        type="PROTOCOL_ERROR",
                        non_retryable=True,
                    )
                index, summary = pending[received], summaries[received]
                received += 1
                problem = await self._settle(params, progress, index, summary, response)
                still_pending = _longer_wait(still_pending, problem)
                activity.heartbeat(progress)
        except grpc.aio.AioRpcError as error:
            raise rpc_failure("connector FetchInvoices", error) from None
        finally:
            call.cancel()
        if received < len(summaries):
            missing = len(summaries) - received
            return ApplicationError(
                f"connector FetchInvoices ended {missing} invoices early", type="INCOMPLETE"
            )
        return still_pending

    async def _settle(
        self,
        params: FetchBatchInput,
        progress: BatchProgress,
        index: int,
        summary: InvoiceSummary,
        response: gdt_connector_pb2.FetchInvoicesResponse,
    ) -> ApplicationError | None:
        """Store one downloaded invoice, or note why it was not; returns a problem that leaves
        it pending for the next attempt."""
        if response.HasField("error"):
            return progress.strike(index, status_failure("connector FetchInvoices", response.error))
        request = storage_pb2.WriteInvoiceRequest(
            bucket=params.bucket,
            company_tax_code=params.company_tax_code,
            flow=params.flow,  # type: ignore[arg-type]
            invoice=summary,
            detail_json=response.detail_json,
            original_xml=response.original_xml,
        )
        try:
            reply = await self._storage.WriteInvoice(request, timeout=self._timeouts.write_invoice)
        except grpc.aio.AioRpcError as error:
            problem = rpc_failure("storage WriteInvoice", error)
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise problem from None  # the bucket itself fails: retry (or fail) the batch
            progress.outcomes[index] = InvoiceOutcome(OUTCOME_FAILED, reason=problem.message)
            return None
        progress.outcomes[index] = write_outcome(reply, without_original=not response.original_xml)
        return None


def _attempts_left(what: str, limit: int) -> AttemptLog:
    """The activity's attempt log; raises (final) when too many attempts failed already."""
    attempts = AttemptLog.resume()
    if why := attempts.gave_up(limit):
        raise ApplicationError(f"{what} {why}", type="GAVE_UP", non_retryable=True)
    return attempts


def _ended(attempts: AttemptLog, problem: ApplicationError) -> ApplicationError:
    """Note how the attempt ended where the next one will read it; returns `problem`."""
    attempts.ended(problem)
    activity.heartbeat(attempts)
    return problem


def write_outcome(
    reply: storage_pb2.WriteInvoiceResponse, *, without_original: bool
) -> InvoiceOutcome:
    objects = [reply.detail, *([reply.original] if reply.HasField("original") else [])]
    written = any(stored.outcome in _WRITTEN for stored in objects)
    return InvoiceOutcome(
        OUTCOME_STORED if written else OUTCOME_ALREADY_STORED, without_original=without_original
    )


def _window_test(params: ListInvoicesInput) -> Callable[[dt.date], bool]:
    """Whether an issue date belongs to the window. Only a side the range clips is checked: on
    the others the portal's month query is the authority (nothing listed is dropped)."""
    first, last = dt.date.fromisoformat(params.first_day), dt.date.fromisoformat(params.last_day)
    clipped_start = first.day != 1
    clipped_end = (last + dt.timedelta(days=1)).month == last.month
    return lambda day: (not clipped_start or day >= first) and (not clipped_end or day <= last)


def _day_counts(params: ListInvoicesInput, days: list[dt.date]) -> list[int]:
    """How many of `days` fall on each day of the window, the ones outside on its edges."""
    first, last = dt.date.fromisoformat(params.first_day), dt.date.fromisoformat(params.last_day)
    counts = [0] * ((last - first).days + 1)
    for day in days:
        counts[(min(max(day, first), last) - first).days] += 1
    return counts


def _pack_listed(summary: InvoiceSummary) -> str:
    try:
        return pack(summary)
    except ValueError as error:
        raise ApplicationError(
            f"connector ListInvoices returned a malformed invoice summary: {error}",
            type="PROTOCOL_ERROR",
            non_retryable=True,
        ) from None


def _longer_wait(
    current: ApplicationError | None, new: ApplicationError | None
) -> ApplicationError | None:
    """Of two reasons to retry, the one asking for the longer delay."""
    if new is None or current is None:
        return current or new
    current_delay = current.next_retry_delay or dt.timedelta(0)
    return new if (new.next_retry_delay or dt.timedelta(0)) > current_delay else current
