"""The connector and storage services as in-memory stubs over a sandbox `Dataset`: the real
activities run against them, so a test can import a company of any size in seconds.

`DatasetConnector` lists a company's invoices the way the portal would (one month per query,
pages of 50, visible by `now`) and "downloads" any listed invoice; `MemoryStorage` keeps what
was written, so a rerun finds everything already stored.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from google.type import date_pb2

from gdtmesh.flows import flow_info
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1.invoice_pb2 import InvoiceKey, InvoiceSummary
from gdtmesh.storage.v1 import storage_pb2
from sandbox.dataset import Dataset, InvoiceRef

PAGE = 50


def summary_of(ref: InvoiceRef) -> InvoiceSummary:
    return InvoiceSummary(
        key=InvoiceKey(
            seller_tax_code=ref.nbmst, form=ref.khmshdon, series=ref.khhdon, number=ref.shdon
        ),
        issue_date=date_pb2.Date(year=ref.tdlap.year, month=ref.tdlap.month, day=ref.tdlap.day),
        processing_status=ref.ttxly,
        invoice_status=ref.tthai,
        has_original=ref.has_original,
    )


class _Stream:
    """A server stream the activities iterate and cancel."""

    def __init__(self, items: AsyncIterator[Any]) -> None:
        self._items = items

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items

    def cancel(self) -> bool:
        return True


@dataclass
class DatasetConnector:
    """GdtConnectorService over one sandbox data set, as the portal stands at `now`."""

    dataset: Dataset
    company: str
    now: dt.datetime
    invoice_seconds: float = 0.0  # time to "download" one invoice
    fetched: int = 0
    logins: int = 0

    async def OpenSession(
        self,
        request: gdt_connector_pb2.OpenSessionRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> gdt_connector_pb2.OpenSessionResponse:
        self.logins += 1
        return gdt_connector_pb2.OpenSessionResponse(session_id=f"session-{self.logins}")

    def ListInvoices(
        self, request: gdt_connector_pb2.ListInvoicesRequest, timeout: float | None = None
    ) -> _Stream:
        return _Stream(self._pages(request))

    def FetchInvoices(
        self, request: gdt_connector_pb2.FetchInvoicesRequest, timeout: float | None = None
    ) -> _Stream:
        return _Stream(self._downloads(request))

    async def _pages(
        self, request: gdt_connector_pb2.ListInvoicesRequest
    ) -> AsyncIterator[gdt_connector_pb2.ListInvoicesResponse]:
        year, month = request.month.year, request.month.month
        first = dt.date(year, month, 1)
        last = dt.date(year, month, calendar.monthrange(year, month)[1])
        code = flow_info(request.flow).code
        refs = self.dataset.refs(self.company, code, first, last, self.now)
        for start in range(0, max(len(refs), 1), PAGE):
            page = [summary_of(ref) for ref in refs[start : start + PAGE]]
            yield gdt_connector_pb2.ListInvoicesResponse(invoices=page, portal_total=len(refs))

    async def _downloads(
        self, request: gdt_connector_pb2.FetchInvoicesRequest
    ) -> AsyncIterator[gdt_connector_pb2.FetchInvoicesResponse]:
        for summary in request.invoices:
            await asyncio.sleep(self.invoice_seconds)
            self.fetched += 1
            key = summary.key
            yield gdt_connector_pb2.FetchInvoicesResponse(
                invoice=summary,
                detail_json=f'{{"nbmst": "{key.seller_tax_code}", "shdon": {key.number}}}'.encode(),
                original_xml=b"<HDon/>" if summary.has_original else b"",
                original_status=(
                    gdt_connector_pb2.ORIGINAL_STATUS_PRESENT
                    if summary.has_original
                    else gdt_connector_pb2.ORIGINAL_STATUS_NONE
                ),
            )


@dataclass
class MemoryStorage:
    """StorageService keeping written invoice keys: a second write of one is ALREADY_STORED."""

    stored: set[tuple[int, str, int, str, int]] = field(default_factory=set)
    writes: int = 0
    manifests: list[storage_pb2.WriteManifestRequest] = field(default_factory=list)

    async def WriteInvoice(
        self,
        request: storage_pb2.WriteInvoiceRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.WriteInvoiceResponse:
        key = request.invoice.key
        identity = (request.flow, key.seller_tax_code, key.form, key.series, key.number)
        outcome = storage_pb2.WRITE_OUTCOME_ALREADY_STORED
        if identity not in self.stored:
            self.stored.add(identity)
            self.writes += 1
            outcome = storage_pb2.WRITE_OUTCOME_WRITTEN
        reply = storage_pb2.WriteInvoiceResponse(
            detail=storage_pb2.StoredObject(name=f"{key.number}.json", outcome=outcome)
        )
        if request.original_xml:
            reply.original.CopyFrom(storage_pb2.StoredObject(name="x.xml", outcome=outcome))
        return reply

    async def WriteManifest(
        self,
        request: storage_pb2.WriteManifestRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.WriteManifestResponse:
        self.manifests.append(request)
        name = f"gdt_invoices/{request.company_tax_code}/manifests/{len(self.manifests)}.json"
        return storage_pb2.WriteManifestResponse(manifest=storage_pb2.StoredObject(name=name))
