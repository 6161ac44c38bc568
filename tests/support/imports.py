"""Activity doubles for the import workflows, registered under the real activity names
(`workers/imports/activities.py`): a small in-memory portal and bucket, so that the workflows
run on the real Temporal dev server in milliseconds. One configurable double serves the worker's,
the gateway's and the hostile tests."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.type import date_pb2
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from gdtmesh.invoice.v1.invoice_pb2 import InvoiceKey, InvoiceSummary
from workers.imports.models import (
    OUTCOME_ALREADY_STORED,
    OUTCOME_FAILED,
    OUTCOME_STORED,
    FetchBatchInput,
    FetchBatchResult,
    InvoiceOutcome,
    ListInvoicesInput,
    ListInvoicesResult,
    ManifestInput,
    OpenSessionInput,
)
from workers.imports.refs import issue_date, pack, unpack
from workers.imports.workflows import WORKFLOWS

WRONG_PASSWORD = "wrong-password"  # the password every double login refuses


def make_ref(day: dt.date, number: int, *, has_original: bool = True) -> str:
    return pack(
        InvoiceSummary(
            key=InvoiceKey(seller_tax_code="0101234560", form=1, series="C25TAA", number=number),
            issue_date=date_pb2.Date(year=day.year, month=day.month, day=day.day),
            processing_status=5,
            invoice_status=1,
            has_original=has_original,
        )
    )


def month_of_refs(year: int, month: int, count: int, first_number: int = 1) -> list[str]:
    """`count` invoices spread over days 1-28 of a month."""
    return [make_ref(dt.date(year, month, 1 + i % 28), first_number + i) for i in range(count)]


def refs_in(batches: Iterable[list[str]]) -> list[str]:
    return [ref for batch in batches for ref in batch]


def import_worker(
    client: Client, task_queue: str, activities: Sequence[Callable[..., Any]]
) -> Worker:
    """A worker of the real import workflows over `activities`. Heartbeats reach the server
    within 0.1 s, and with them a cancellation reaches a waiting activity."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        max_heartbeat_throttle_interval=timedelta(milliseconds=100),
        default_heartbeat_throttle_interval=timedelta(milliseconds=100),
    )


@dataclass
class ImportDoubles:
    """The portal, connector and storage in one, behind the four import activities. One
    instance may serve many imports at once; it records what they asked for."""

    # What a month lists: `invoices[(flow, year, month)]`, else `per_month` invoices issued on
    # the window's first day.
    invoices: dict[tuple[int, int, int], list[str]] = field(default_factory=dict)
    per_month: int = 0
    already_stored: set[str] = field(default_factory=set)  # refs the bucket holds already
    failing: dict[str, str] = field(default_factory=dict)  # ref -> why its download fails
    expired: set[str] = field(default_factory=set)  # session ids that downloads refuse
    login_gate: asyncio.Event | None = None  # logins wait for it, then are refused
    gate: asyncio.Event | None = None  # downloads wait for it (heartbeating: cancellable)
    rate_limit_for: timedelta | None = None  # the first download is told to retry after it
    invoice_seconds: float = 0.0  # time to "download" one invoice
    overlap: int = 4  # invoices of one batch "downloaded" at once, like the connector
    first_wave: int = 0  # the first downloads wait (up to 5 s) until this many run at once
    # What the imports asked for.
    calls: list[str] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    manifests: list[ManifestInput] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    # The session each import (by workflow id) opened last: the one its listings must use.
    _session_of: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.open_session,
            self.list_invoices,
            self.fetch_invoice_batch,
            self.write_manifest,
        ]

    def release(self) -> None:
        """Open the gates: at a fixture's end, so that held imports end before their worker."""
        for gate in (self.login_gate, self.gate):
            if gate is not None:
                gate.set()

    @activity.defn(name="open_session")
    async def open_session(self, params: OpenSessionInput) -> str:
        self.calls.append("open_session")
        self.passwords.append(params.password)
        if self.login_gate is not None:
            await self.login_gate.wait()
        if params.password == WRONG_PASSWORD or self.login_gate is not None:
            raise ApplicationError(
                "connector OpenSession: UNAUTHENTICATED: wrong username or password",
                type="UNAUTHENTICATED",
                non_retryable=True,
            )
        self.sessions.append(f"session-{len(self.sessions) + 1}")
        self._session_of[activity.info().workflow_id or ""] = self.sessions[-1]
        return self.sessions[-1]

    @activity.defn(name="list_invoices")
    async def list_invoices(self, params: ListInvoicesInput) -> ListInvoicesResult:
        assert params.session_id == self._session_of[activity.info().workflow_id or ""]
        self.calls.append("list_invoices")
        first, last = (
            dt.date.fromisoformat(params.first_day),
            dt.date.fromisoformat(params.last_day),
        )
        listed = self.invoices.get(
            (params.flow, params.year, params.month),
            [make_ref(first, n) for n in range(1, self.per_month + 1)],
        )
        kept = [ref for ref in listed if first <= issue_date(unpack(ref)) <= last]
        return ListInvoicesResult(portal_total=len(listed), listed=len(listed), invoices=kept)

    @activity.defn(name="fetch_invoice_batch")
    async def fetch_invoice_batch(self, params: FetchBatchInput) -> FetchBatchResult:
        self.calls.append("fetch_invoice_batch")
        if params.session_id in self.expired:
            raise ApplicationError(
                "connector FetchInvoices: UNAUTHENTICATED: session expired",
                type="SESSION_EXPIRED",
                non_retryable=True,
            )
        if self.rate_limit_for is not None and self.calls.count("fetch_invoice_batch") == 1:
            raise ApplicationError(
                "connector FetchInvoices: RESOURCE_EXHAUSTED: portal budget exhausted",
                type="RESOURCE_EXHAUSTED",
                next_retry_delay=self.rate_limit_for,
            )
        self.batches.append(list(params.invoices))
        while self.gate is not None and not self.gate.is_set():
            activity.heartbeat()
            await asyncio.sleep(0.02)
        lanes = asyncio.Semaphore(self.overlap)
        outcomes = await asyncio.gather(*(self._download(ref, lanes) for ref in params.invoices))
        return FetchBatchResult(list(outcomes))

    @activity.defn(name="write_manifest")
    async def write_manifest(self, params: ManifestInput) -> str:
        self.calls.append("write_manifest")
        self.manifests.append(params)
        return f"gdt_invoices/{params.company_tax_code}/manifests/import.json"

    async def _download(self, ref: str, lanes: asyncio.Semaphore) -> InvoiceOutcome:
        async with lanes:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                await self._wave_started()
                await asyncio.sleep(self.invoice_seconds)
                return self._outcome(ref)
            finally:
                self.in_flight -= 1

    async def _wave_started(self) -> None:
        for _ in range(500):
            if self.max_in_flight >= self.first_wave:
                return
            await asyncio.sleep(0.01)

    def _outcome(self, ref: str) -> InvoiceOutcome:
        if ref in self.failing:
            return InvoiceOutcome(OUTCOME_FAILED, reason=self.failing[ref])
        without_original = not unpack(ref).has_original
        code = OUTCOME_ALREADY_STORED if ref in self.already_stored else OUTCOME_STORED
        return InvoiceOutcome(code, without_original=without_original)
