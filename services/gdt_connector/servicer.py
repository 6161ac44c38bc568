"""gdtmesh.gdt_connector.v1.GdtConnectorService: validates requests, translates proto <-> domain
and maps infrastructure failures (Redis) to gRPC codes. The logic lives in `Connector`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager

import grpc
import redis.exceptions
import structlog
from google.type import date_pb2

from gdtmesh import reasons
from gdtmesh.flows import FlowInfo, flow_info
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import ServiceError, bad_request, error_info, status_from_error
from services.gdt_connector.account import TAX_CODE
from services.gdt_connector.connector import Connector
from services.gdt_connector.model import (
    FailedInvoice,
    FetchedInvoice,
    InvoiceKey,
    InvoiceSummary,
    OriginalStatus,
    WantedInvoice,
)

log = structlog.get_logger(__name__)

MAX_PASSWORD_CHARS = 256
MAX_SERIES_CHARS = 16
YEARS = range(2000, 2101)
_STATUSES = {
    OriginalStatus.PRESENT: gdt_connector_pb2.ORIGINAL_STATUS_PRESENT,
    OriginalStatus.NONE: gdt_connector_pb2.ORIGINAL_STATUS_NONE,
    OriginalStatus.MISMATCH: gdt_connector_pb2.ORIGINAL_STATUS_MISMATCH,
}


class GdtConnectorServicer(gdt_connector_pb2_grpc.GdtConnectorServiceServicer):
    def __init__(self, connector: Connector, max_batch: int) -> None:
        self._connector = connector
        self._max_batch = max_batch

    async def OpenSession(
        self, request: gdt_connector_pb2.OpenSessionRequest, context: grpc.aio.ServicerContext
    ) -> gdt_connector_pb2.OpenSessionResponse:
        problems = {}
        if not TAX_CODE.fullmatch(request.username):
            problems["username"] = "must be a tax code: 10 digits, 10 digits-3 digits, or 12 digits"
        if request.company_tax_code and not TAX_CODE.fullmatch(request.company_tax_code):
            problems["company_tax_code"] = "must be empty or a tax code like the username"
        if not request.password or len(request.password) > MAX_PASSWORD_CHARS:
            problems["password"] = f"must be 1 to {MAX_PASSWORD_CHARS} characters"
        if problems:
            raise bad_request(problems)
        with _store_errors():
            opened = await self._connector.open_session(
                request.username, request.password, request.company_tax_code
            )
        response = gdt_connector_pb2.OpenSessionResponse(
            session_id=opened.session_id, account_tax_code=opened.account_tax_code
        )
        response.expire_time.FromDatetime(opened.expires_at)
        return response

    async def ListInvoices(
        self, request: gdt_connector_pb2.ListInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gdt_connector_pb2.ListInvoicesResponse]:
        problems = _session_problems(request.session_id)
        flow = _flow(request.flow, problems)
        if not request.HasField("month") or request.month.year not in YEARS:
            problems["month.year"] = f"must be {YEARS.start}-{YEARS.stop - 1}"
        if not 1 <= request.month.month <= 12:
            problems["month.month"] = "must be 1-12"
        if problems or flow is None:
            raise bad_request(problems)
        pages = self._connector.list_invoices(
            request.session_id, flow, request.month.year, request.month.month, request.resume_token
        )
        with _store_errors():
            async for page in pages:
                yield gdt_connector_pb2.ListInvoicesResponse(
                    invoices=[_summary_proto(summary) for summary in page.invoices],
                    portal_total=page.portal_total,
                    resume_token=page.resume_token,
                )

    async def FetchInvoices(
        self, request: gdt_connector_pb2.FetchInvoicesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gdt_connector_pb2.FetchInvoicesResponse]:
        problems = _session_problems(request.session_id)
        flow = _flow(request.flow, problems)
        wanted = self._wanted(request.invoices, problems)
        if problems or flow is None:
            raise bad_request(problems)
        results = self._connector.fetch_invoices(request.session_id, flow, wanted)
        with _store_errors():
            index = 0
            async for result in results:
                yield _fetch_response(request.invoices[index], result)
                index += 1

    def _wanted(
        self, invoices: Sequence[invoice_pb2.InvoiceSummary], problems: dict[str, str]
    ) -> list[WantedInvoice]:
        if not 1 <= len(invoices) <= self._max_batch:
            problems["invoices"] = f"must hold 1 to {self._max_batch} invoices"
            return []
        wanted = []
        for index, summary in enumerate(invoices):
            key = summary.key
            where = f"invoices[{index}].key"
            if not TAX_CODE.fullmatch(key.seller_tax_code):
                problems[f"{where}.seller_tax_code"] = "must be a tax code"
            if not 1 <= key.form <= 9:
                problems[f"{where}.form"] = "must be 1-9"
            if not key.series or len(key.series) > MAX_SERIES_CHARS or not key.series.isalnum():
                problems[f"{where}.series"] = f"must be 1 to {MAX_SERIES_CHARS} letters or digits"
            if key.number <= 0:
                problems[f"{where}.number"] = "must be positive"
            invoice_key = InvoiceKey(key.seller_tax_code, key.form, key.series, key.number)
            wanted.append(WantedInvoice(invoice_key, summary.has_original))
        return wanted


def _session_problems(session_id: str) -> dict[str, str]:
    return {} if session_id else {"session_id": "required: the handle from OpenSession"}


def _flow(value: invoice_pb2.Flow.ValueType, problems: dict[str, str]) -> FlowInfo | None:
    try:
        return flow_info(value)
    except ValueError:
        problems["flow"] = "must be one of the four flows"
        return None


def _summary_proto(summary: InvoiceSummary) -> invoice_pb2.InvoiceSummary:
    key = summary.key
    day = summary.issue_date
    return invoice_pb2.InvoiceSummary(
        key=invoice_pb2.InvoiceKey(
            seller_tax_code=key.seller, form=key.form, series=key.series, number=key.number
        ),
        issue_date=date_pb2.Date(year=day.year, month=day.month, day=day.day),
        processing_status=summary.processing_status,
        invoice_status=summary.invoice_status,
        has_original=summary.has_original,
        fingerprint=summary.fingerprint,
    )


def _fetch_response(
    invoice: invoice_pb2.InvoiceSummary, result: FetchedInvoice | FailedInvoice
) -> gdt_connector_pb2.FetchInvoicesResponse:
    if isinstance(result, FailedInvoice):
        return gdt_connector_pb2.FetchInvoicesResponse(
            invoice=invoice, error=status_from_error(result.error)
        )
    return gdt_connector_pb2.FetchInvoicesResponse(
        invoice=invoice,
        detail_json=result.detail_json,
        original_xml=result.original_xml,
        original_status=_STATUSES[result.original_status],
        original_mismatch=result.original_mismatch,
    )


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except redis.exceptions.RedisError as error:
        log.error("session store failed", error_type=type(error).__name__)
        raise ServiceError(
            grpc.StatusCode.UNAVAILABLE,
            "the connector's session store (Redis) is unavailable; retry shortly",
            [error_info(reasons.SESSION_STORE_UNAVAILABLE)],
        ) from None
