"""Activity doubles for the import workflows behind the gateway, under the real activity names:
every month lists `per_month` invoices, downloads store them all (after `gate`, when set,
heartbeating while they wait so a cancellation reaches them), and the first download can be
rate limited (`rate_limit_for`: the delay the "gdt_connector" asks for)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.type import date_pb2
from temporalio import activity
from temporalio.exceptions import ApplicationError

from gdtmesh.invoice.v1.invoice_pb2 import InvoiceKey, InvoiceSummary
from workers.imports.models import (
    OUTCOME_STORED,
    FetchBatchInput,
    FetchBatchResult,
    InvoiceOutcome,
    ListInvoicesInput,
    ListInvoicesResult,
    ManifestInput,
    OpenSessionInput,
)
from workers.imports.refs import pack

WRONG_PASSWORD = "wrong-password"


@dataclass
class ImportDoubles:
    per_month: int = 3
    gate: asyncio.Event | None = None
    rate_limit_for: timedelta | None = None
    passwords: list[str] = field(default_factory=list)
    manifests: list[ManifestInput] = field(default_factory=list)
    fetches: int = 0

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            self.open_session,
            self.list_invoices,
            self.fetch_invoice_batch,
            self.write_manifest,
        ]

    @activity.defn(name="open_session")
    async def open_session(self, params: OpenSessionInput) -> str:
        self.passwords.append(params.password)
        if params.password == WRONG_PASSWORD:
            raise ApplicationError(
                "connector OpenSession: UNAUTHENTICATED: wrong username or password",
                type="UNAUTHENTICATED",
                non_retryable=True,
            )
        return "session"

    @activity.defn(name="list_invoices")
    async def list_invoices(self, params: ListInvoicesInput) -> ListInvoicesResult:
        first = dt.date.fromisoformat(params.first_day)
        refs = [
            pack(
                InvoiceSummary(
                    key=InvoiceKey(seller_tax_code="0101234560", form=1, series="C25TAA", number=n),
                    issue_date=date_pb2.Date(year=first.year, month=first.month, day=first.day),
                    has_original=True,
                )
            )
            for n in range(1, self.per_month + 1)
        ]
        return ListInvoicesResult(portal_total=len(refs), listed=len(refs), invoices=refs)

    @activity.defn(name="fetch_invoice_batch")
    async def fetch_invoice_batch(self, params: FetchBatchInput) -> FetchBatchResult:
        self.fetches += 1
        if self.rate_limit_for is not None and self.fetches == 1:
            raise ApplicationError(
                "connector FetchInvoices: RESOURCE_EXHAUSTED: portal budget exhausted",
                type="RESOURCE_EXHAUSTED",
                next_retry_delay=self.rate_limit_for,
            )
        while self.gate is not None and not self.gate.is_set():
            activity.heartbeat()
            await asyncio.sleep(0.02)
        return FetchBatchResult([InvoiceOutcome(OUTCOME_STORED) for _ in params.invoices])

    @activity.defn(name="write_manifest")
    async def write_manifest(self, params: ManifestInput) -> str:
        self.manifests.append(params)
        return f"gdt_invoices/{params.company_tax_code}/manifests/import.json"
