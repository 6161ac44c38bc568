"""Activity doubles for the import workflow, registered under the real activity names: a small
in-memory portal that lists and "stores" invoices and records what the workflow asked for."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.type import date_pb2
from temporalio import activity
from temporalio.exceptions import ApplicationError

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

WRONG_PASSWORD = "wrong-password"


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


@dataclass
class PortalDouble:
    """The portal, connector and storage in one: `invoices[(flow, year, month)]` lists refs."""

    invoices: dict[tuple[int, int, int], list[str]] = field(default_factory=dict)
    already_stored: set[str] = field(default_factory=set)
    failing: dict[str, str] = field(default_factory=dict)  # ref -> reason
    invoice_seconds: float = 0.0  # time to "download" one invoice
    overlap: int = 4  # invoices of one batch "downloaded" at once, like the connector
    gate: asyncio.Event | None = None  # downloads wait for it when set
    first_wave: int = 0  # the first downloads wait (up to 5 s) until this many run at once
    expired: set[str] = field(default_factory=set)  # session ids that downloads refuse
    sessions: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)
    manifests: list[ManifestInput] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    passwords_seen: list[str] = field(default_factory=list)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.open_session,
            self.list_invoices,
            self.fetch_invoice_batch,
            self.write_manifest,
        ]

    @activity.defn(name="open_session")
    async def open_session(self, params: OpenSessionInput) -> str:
        self.calls.append("open_session")
        self.passwords_seen.append(params.password)
        if params.password == WRONG_PASSWORD:
            raise ApplicationError(
                "connector OpenSession: UNAUTHENTICATED: wrong username or password",
                type="UNAUTHENTICATED",
                non_retryable=True,
            )
        self.sessions.append(f"session-{len(self.sessions) + 1}")
        return self.sessions[-1]

    @activity.defn(name="list_invoices")
    async def list_invoices(self, params: ListInvoicesInput) -> ListInvoicesResult:
        assert params.session_id == self.sessions[-1]
        self.calls.append("list_invoices")
        listed = self.invoices.get((params.flow, params.year, params.month), [])
        first, last = (
            dt.date.fromisoformat(params.first_day),
            dt.date.fromisoformat(params.last_day),
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
        self.batches.append(list(params.invoices))
        if self.gate is not None:
            await self.gate.wait()
        lanes = asyncio.Semaphore(self.overlap)
        outcomes = await asyncio.gather(*(self._download(ref, lanes) for ref in params.invoices))
        return FetchBatchResult(list(outcomes))

    @activity.defn(name="write_manifest")
    async def write_manifest(self, params: ManifestInput) -> str:
        self.calls.append("write_manifest")
        self.manifests.append(params)
        return f"gdt_invoices/{params.company_tax_code}/manifests/{len(self.manifests)}.json"

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
        if ref in self.already_stored:
            return InvoiceOutcome(OUTCOME_ALREADY_STORED, without_original=without_original)
        self.already_stored.add(ref)
        return InvoiceOutcome(OUTCOME_STORED, without_original=without_original)


def refs_in(batches: Iterable[list[str]]) -> list[str]:
    return [ref for batch in batches for ref in batch]
