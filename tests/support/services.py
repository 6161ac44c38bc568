"""The connector and storage services as in-memory client stubs, for the real import activities
(`ImportActivities(ConnectorStub(...), StorageStub())`): answers from a sandbox `Dataset` (an
import of any size in seconds) or scripted (real `grpc.aio.AioRpcError`s with rich status
details included), and a record of every request."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc
from google.type import date_pb2

from gdtmesh.flows import flow_info
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1.invoice_pb2 import InvoiceKey, InvoiceSummary
from gdtmesh.runtime.errors import ServiceError, retry_later
from gdtmesh.storage.v1 import storage_pb2
from sandbox.dataset import Dataset, DatasetSpec, InvoiceRef
from workers.imports.refs import unpack

PAGE = 50  # invoices per listed page, as the portal pages them


def rpc_error(error: ServiceError) -> grpc.aio.AioRpcError:
    """The client-side error a server raising `error` produces (details in trailing metadata)."""
    status = error.to_status()
    return grpc.aio.AioRpcError(
        status.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        details=status.details,
    )


def failed(code: grpc.StatusCode, text: str) -> grpc.aio.AioRpcError:
    return rpc_error(ServiceError(code, text))


def rate_limited(seconds: float) -> grpc.aio.AioRpcError:
    return rpc_error(retry_later(timedelta(seconds=seconds), "portal budget exhausted"))


def one_company(
    invoices: int, months: int, *, seed: int, today: dt.date | None = None
) -> tuple[Dataset, str]:
    """A sandbox data set of one company (no demo accounts), and its tax code."""
    spec = DatasetSpec(
        seed=seed,
        companies=1,
        invoices_per_company=invoices,
        months=months,
        today=today,
        demo=False,
    )
    data = Dataset(spec)
    [company] = data.companies()
    return data, company.mst


def summary_of(ref: InvoiceRef) -> InvoiceSummary:
    """A sandbox invoice as the connector lists it."""
    return InvoiceSummary(
        key=InvoiceKey(
            seller_tax_code=ref.nbmst, form=ref.khmshdon, series=ref.khhdon, number=ref.shdon
        ),
        issue_date=date_pb2.Date(year=ref.tdlap.year, month=ref.tdlap.month, day=ref.tdlap.day),
        processing_status=ref.ttxly,
        invoice_status=ref.tthai,
        has_original=ref.has_original,
    )


def downloaded(
    invoice: str | InvoiceSummary, *, xml: bytes | None = None
) -> gdt_connector_pb2.FetchInvoicesResponse:
    """The connector's answer for one downloaded invoice (a packed ref or a summary): its detail
    JSON and `xml`, by default an XML exactly when the invoice has an original."""
    summary = unpack(invoice) if isinstance(invoice, str) else invoice
    key = summary.key
    if xml is None:
        xml = b"<HDon/>" if summary.has_original else b""
    return gdt_connector_pb2.FetchInvoicesResponse(
        invoice=summary,
        detail_json=f'{{"nbmst": "{key.seller_tax_code}", "shdon": {key.number}}}'.encode(),
        original_xml=xml,
        original_status=(
            gdt_connector_pb2.ORIGINAL_STATUS_PRESENT
            if xml
            else gdt_connector_pb2.ORIGINAL_STATUS_NONE
        ),
    )


class Stream:
    """A server stream the activities iterate and cancel: yields `items`, raising any
    exception among them."""

    def __init__(self, items: AsyncIterator[Any] | Sequence[Any]) -> None:
        self._items = items if isinstance(items, AsyncIterator) else _scripted(items)
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items

    def cancel(self) -> bool:
        self.cancelled = True
        return True


async def _scripted(items: Sequence[Any]) -> AsyncIterator[Any]:
    for item in items:
        if isinstance(item, BaseException):
            raise item
        yield item


@dataclass
class ConnectorStub:
    """GdtConnectorService. Listings come from `dataset` (the `company`'s invoices as the
    portal shows them at `now`: one month per query, pages of 50), or else are the `pages`
    script; downloads follow `fetches` (one script per call) when set, or else return every
    requested invoice after `invoice_seconds`. A login answers a new session, or `login_error`."""

    dataset: Dataset | None = None
    company: str = ""
    now: dt.datetime | None = None
    pages: list[Any] = field(default_factory=list)
    fetches: list[list[Any]] | None = None
    login_error: grpc.aio.AioRpcError | None = None
    invoice_seconds: float = 0.0
    logins: int = 0
    fetched: int = 0  # invoices downloaded
    requests: list[Any] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)

    async def OpenSession(
        self,
        request: gdt_connector_pb2.OpenSessionRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> gdt_connector_pb2.OpenSessionResponse:
        self._note(request, timeout)
        if self.login_error is not None:
            raise self.login_error
        self.logins += 1
        return gdt_connector_pb2.OpenSessionResponse(session_id=f"session-{self.logins}")

    def ListInvoices(
        self, request: gdt_connector_pb2.ListInvoicesRequest, timeout: float | None = None
    ) -> Stream:
        self._note(request, timeout)
        return self._stream(self.pages if self.dataset is None else self._pages(request))

    def FetchInvoices(
        self, request: gdt_connector_pb2.FetchInvoicesRequest, timeout: float | None = None
    ) -> Stream:
        self._note(request, timeout)
        return self._stream(
            self._downloads(request) if self.fetches is None else self.fetches.pop(0)
        )

    def _note(self, request: Any, timeout: float | None) -> None:
        self.requests.append(request)
        self.timeouts.append(timeout)

    def _stream(self, items: AsyncIterator[Any] | Sequence[Any]) -> Stream:
        stream = Stream(items)
        self.streams.append(stream)
        return stream

    async def _pages(
        self, request: gdt_connector_pb2.ListInvoicesRequest
    ) -> AsyncIterator[gdt_connector_pb2.ListInvoicesResponse]:
        assert self.dataset is not None and self.now is not None
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
            yield downloaded(summary)


@dataclass
class StorageStub:
    """StorageService keeping the written invoice keys: a first write of an invoice is WRITTEN,
    a later one ALREADY_STORED (every write answers `outcome` instead when it is set). `errors`
    scripts a failure by invoice number, `manifest_error` one of every manifest write.
    ListStored answers the flow's written invoices with the fingerprint of their last write."""

    outcome: int | None = None
    errors: dict[int, grpc.aio.AioRpcError] = field(default_factory=dict)  # invoice number
    manifest_error: grpc.aio.AioRpcError | None = None
    stored: set[tuple[int, str, int, str, int]] = field(default_factory=set)
    fingerprints: dict[tuple[int, str, int, str, int], str] = field(default_factory=dict)
    writes: list[storage_pb2.WriteInvoiceRequest] = field(default_factory=list)
    manifests: list[storage_pb2.WriteManifestRequest] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)

    async def WriteInvoice(
        self,
        request: storage_pb2.WriteInvoiceRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.WriteInvoiceResponse:
        self.timeouts.append(timeout)
        key = request.invoice.key
        error = self.errors.pop(key.number, None)
        if error is not None:
            raise error
        self.writes.append(request)
        identity = (request.flow, key.seller_tax_code, key.form, key.series, key.number)
        if self.outcome is not None:
            outcome = self.outcome
        elif identity in self.stored:
            outcome = storage_pb2.WRITE_OUTCOME_ALREADY_STORED
        else:
            outcome = storage_pb2.WRITE_OUTCOME_WRITTEN
        self.stored.add(identity)
        self.fingerprints[identity] = request.invoice.fingerprint
        reply = storage_pb2.WriteInvoiceResponse(
            detail=storage_pb2.StoredObject(name=f"{key.number}.json", outcome=outcome)  # type: ignore[arg-type]
        )
        if request.original_xml:
            reply.original.CopyFrom(
                storage_pb2.StoredObject(name=f"{key.number}.xml", outcome=outcome)  # type: ignore[arg-type]
            )
        return reply

    async def ListStored(
        self,
        request: storage_pb2.ListStoredRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.ListStoredResponse:
        self.timeouts.append(timeout)
        return storage_pb2.ListStoredResponse(
            invoices=[
                storage_pb2.StoredInvoice(
                    key=InvoiceKey(seller_tax_code=seller, form=form, series=series, number=number),
                    fingerprint=self.fingerprints[identity],
                    complete=True,
                    versions=1,
                )
                for identity in sorted(self.stored)
                if identity[0] == request.flow
                for _, seller, form, series, number in [identity]
            ]
        )

    async def WriteManifest(
        self,
        request: storage_pb2.WriteManifestRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.WriteManifestResponse:
        self.timeouts.append(timeout)
        if self.manifest_error is not None:
            raise self.manifest_error
        self.manifests.append(request)
        name = f"gdt_invoices/{request.company_tax_code}/manifests/{len(self.manifests)}.json"
        return storage_pb2.WriteManifestResponse(manifest=storage_pb2.StoredObject(name=name))
