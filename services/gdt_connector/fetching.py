"""Downloads: the detail JSON of each invoice (kept byte for byte) and its signed original XML.

An invoice's own permanent problem (a malformed body, an unknown invoice, a broken export)
becomes a `FailedInvoice` and the batch goes on. So does a wait for the portal's budget or an
account's backoff (RESOURCE_EXHAUSTED, nothing was sent): the downloads already admitted keep
the slots they reserved instead of being cancelled, and no request leaves for an account while it
is blocked (the pacer refuses it). Anything else transient (5xx, timeouts, the firewall) ends the
batch with its status, after the invoices before it were delivered, so the caller retries just
the rest. Downloads overlap (`concurrency`), results keep request order.

An invoice's family is not always the one its row suggests: when the export answers "Không
tồn tại hóa đơn." the other family's export-xml is asked once (one extra request for such an
invoice, none for any other) before the invoice is called unknown.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import structlog

from gdtmesh import reasons
from gdtmesh.runtime.errors import ServiceError, error_info
from services.gdt_connector.access import SessionPortal
from services.gdt_connector.listing import key_of
from services.gdt_connector.model import (
    FailedInvoice,
    FetchedInvoice,
    OriginalStatus,
    WantedInvoice,
)
from services.gdt_connector.originals import (
    OriginalError,
    differences,
    invoice_xml_from_zip,
    parse_xml,
)
from services.gdt_connector.portal import Reply, malformed, normalized, server_error

log = structlog.get_logger(__name__)

NO_ORIGINAL_MARKER = "không tồn tại hồ sơ gốc"
NO_INVOICE_MARKER = "không tồn tại hóa đơn"
OTHER_FAMILY = {"query": "sco-query", "sco-query": "query"}

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ZipLimits:
    max_bytes: int
    max_ratio: float


class InvoiceFetcher:
    def __init__(self, portal: SessionPortal, family: str, limits: ZipLimits) -> None:
        self._portal = portal
        self._family = family
        self._limits = limits

    async def fetch(self, wanted: WantedInvoice) -> FetchedInvoice | FailedInvoice:
        try:
            return await self._fetch(wanted)
        except ServiceError as error:
            if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                return FailedInvoice(error)  # retried after its delay
            if error.code in (grpc.StatusCode.DATA_LOSS, grpc.StatusCode.NOT_FOUND):
                log.warning("invoice failed", key=_label(wanted), reason=error.message)
                return FailedInvoice(error)
            raise

    async def _fetch(self, wanted: WantedInvoice) -> FetchedInvoice:
        params = wanted.key.params()
        reply = await self._portal.get(f"/{self._family}/invoices/detail", params)
        what = f"detail of {_label(wanted)}"
        _check_found(reply, what)
        detail = _detail_object(reply, what, wanted)
        has_original = detail["hsgoc"] is not None if "hsgoc" in detail else wanted.has_original
        if not has_original:
            return FetchedInvoice(reply.body, b"", OriginalStatus.NONE)
        export = await self._portal.get(f"/{self._family}/invoices/export-xml", params)
        what = f"original XML of {_label(wanted)}"
        if _says_unknown(export):
            other = OTHER_FAMILY[self._family]
            log.info("export unknown in its family, asking the other", key=_label(wanted))
            export = await self._portal.get(f"/{other}/invoices/export-xml", params)
            what = f"original XML of {_label(wanted)} (in {self._family} and {other})"
        if export.status == 500 and NO_ORIGINAL_MARKER in normalized(export.message()):
            return FetchedInvoice(reply.body, b"", OriginalStatus.NONE)
        _check_found(export, what)
        try:
            xml = invoice_xml_from_zip(
                export.body, max_bytes=self._limits.max_bytes, max_ratio=self._limits.max_ratio
            )
            found = differences(detail, parse_xml(xml))
        except OriginalError as error:
            raise malformed(f"{what}: {error}") from None
        if found:
            return FetchedInvoice(reply.body, xml, OriginalStatus.MISMATCH, "; ".join(found))
        return FetchedInvoice(reply.body, xml, OriginalStatus.PRESENT)


def _says_unknown(reply: Reply) -> bool:
    return reply.status == 500 and NO_INVOICE_MARKER in normalized(reply.message())


def _check_found(reply: Reply, what: str) -> None:
    if reply.status == 200:
        return
    if _says_unknown(reply):
        raise ServiceError(
            grpc.StatusCode.NOT_FOUND,
            f"{what}: the portal does not know this invoice ({reply.message()})",
            [error_info(reasons.INVOICE_NOT_FOUND)],
        )
    raise server_error(reply, what)


def _detail_object(reply: Reply, what: str, wanted: WantedInvoice) -> dict[str, Any]:
    detail = reply.json(what)
    if not isinstance(detail, dict):
        raise malformed(f"{what}: the detail is not a JSON object")
    if key_of(detail) != wanted.key:
        raise malformed(f"{what}: the portal answered with another invoice")
    return detail


def _label(wanted: WantedInvoice) -> str:
    key = wanted.key
    return f"{key.seller}/{key.form}-{key.series}-{key.number}"


async def in_order(
    items: Sequence[T], work: Callable[[T], Coroutine[Any, Any, R]], concurrency: int
) -> AsyncIterator[R]:
    """`work` on every item, at most `concurrency` at a time, results in item order. The first
    failure (in item order) ends the stream and cancels the work still running."""
    running: deque[asyncio.Task[R]] = deque()
    try:
        for item in items:
            running.append(asyncio.create_task(work(item)))
            if len(running) >= concurrency:
                yield await running.popleft()
        while running:
            yield await running.popleft()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
