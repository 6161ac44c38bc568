"""A direct asyncio crawler: the mesh's work without its orchestration.

It calls the same connector and storage services as the worker does, with the same plan (all
companies at once; per company the flows in parallel, months in order, batches of 50 on
`max_concurrent // overlap` lanes, each batch a FetchInvoices stream written invoice by invoice)
and the same portal budget (the connector enforces it), but with no Temporal, no workflow, no
activity: one process, plain coroutines, retries by sleeping on the RetryInfo delay. What the
mesh takes beyond this crawler's time is the price of durable orchestration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from gdtmesh.flows import FLOWS
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import retry_delay
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from gdtmesh.vncalendar import months_between

BATCH = 50
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.ABORTED,
    }
)
MAX_ATTEMPTS = 30  # failures other than RESOURCE_EXHAUSTED (a wait for the budget is free)
T = TypeVar("T")


@dataclass
class DirectRun:
    started: float
    finished: dict[str, float] = field(default_factory=dict)
    stored: int = 0
    failed: int = 0

    @property
    def elapsed_s(self) -> float:
        return max(self.finished.values()) - self.started if self.finished else 0.0


class DirectCrawler:
    def __init__(
        self, endpoints: dict[str, str], bucket: str, max_concurrent: int, overlap: int
    ) -> None:
        self._connector_channel = open_channel(endpoints["gdt_connector"])
        self._storage_channel = open_channel(endpoints["storage"])
        self._connector = gdt_connector_pb2_grpc.GdtConnectorServiceStub(self._connector_channel)
        self._storage = storage_pb2_grpc.StorageServiceStub(self._storage_channel)
        self._bucket = bucket
        self._lanes = max(1, max_concurrent // min(overlap, max_concurrent))

    async def close(self) -> None:
        await self._connector_channel.close()
        await self._storage_channel.close()

    async def crawl_all(
        self, companies: Sequence[dict[str, Any]], start: dt.date, end: dt.date
    ) -> DirectRun:
        run = DirectRun(started=time.monotonic())

        async def one(company: dict[str, Any]) -> None:
            await self._crawl(run, company["mst"], company["password"], start, end)
            run.finished[company["mst"]] = time.monotonic()

        await asyncio.gather(*(one(c) for c in companies))
        return run

    async def _crawl(
        self, run: DirectRun, company: str, password: str, start: dt.date, end: dt.date
    ) -> None:
        request = gdt_connector_pb2.OpenSessionRequest(username=company, password=password)
        opened = await _retrying(lambda: self._connector.OpenSession(request, timeout=120))
        session = opened.session_id
        months = months_between(start, end)
        queue: asyncio.Queue[tuple[int, list[invoice_pb2.InvoiceSummary]]] = asyncio.Queue()

        async def discover(flow: int) -> None:
            for year, month in months:
                found = await _retrying(functools.partial(self._list, session, flow, year, month))
                for first in range(0, len(found), BATCH):
                    queue.put_nowait((flow, found[first : first + BATCH]))

        await asyncio.gather(*(discover(info.flow) for info in FLOWS))

        async def lane() -> None:
            while not queue.empty():
                flow, batch = queue.get_nowait()
                await self._download(run, session, company, flow, batch)

        await asyncio.gather(*(lane() for _ in range(self._lanes)))

    async def _list(
        self, session: str, flow: int, year: int, month: int
    ) -> list[invoice_pb2.InvoiceSummary]:
        request = gdt_connector_pb2.ListInvoicesRequest(
            session_id=session,
            flow=flow,  # type: ignore[arg-type]
            month=invoice_pb2.YearMonth(year=year, month=month),
        )
        found: dict[bytes, invoice_pb2.InvoiceSummary] = {}
        async for page in self._connector.ListInvoices(request, timeout=540):
            for summary in page.invoices:
                found.setdefault(summary.key.SerializeToString(), summary)
        return list(found.values())

    async def _download(
        self,
        run: DirectRun,
        session: str,
        company: str,
        flow: int,
        batch: list[invoice_pb2.InvoiceSummary],
    ) -> None:
        pending = list(batch)
        failures = 0
        while pending:
            request = gdt_connector_pb2.FetchInvoicesRequest(
                session_id=session,
                flow=flow,  # type: ignore[arg-type]
                invoices=pending,
            )
            try:
                async for response in _stream(self._connector.FetchInvoices(request, timeout=540)):
                    await self._store(run, company, flow, response)
                    pending.pop(0)
            except grpc.aio.AioRpcError as error:
                failures += _counted(error)
                if error.code() not in RETRYABLE or failures >= MAX_ATTEMPTS:
                    raise
                await asyncio.sleep(_delay_s(error))

    async def _store(
        self,
        run: DirectRun,
        company: str,
        flow: int,
        response: gdt_connector_pb2.FetchInvoicesResponse,
    ) -> None:
        if response.HasField("error"):
            run.failed += 1
            return
        request = storage_pb2.WriteInvoiceRequest(
            bucket=self._bucket,
            company_tax_code=company,
            flow=flow,  # type: ignore[arg-type]
            invoice=response.invoice,
            detail_json=response.detail_json,
            original_xml=response.original_xml,
        )
        await _retrying(lambda: self._storage.WriteInvoice(request, timeout=30))
        run.stored += 1


async def _stream(call: Any) -> AsyncIterator[Any]:
    try:
        async for item in call:
            yield item
    finally:
        call.cancel()


async def _retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    failures = 0
    while True:
        try:
            return await attempt()
        except grpc.aio.AioRpcError as error:
            failures += _counted(error)
            if error.code() not in RETRYABLE or failures >= MAX_ATTEMPTS:
                raise
            await asyncio.sleep(_delay_s(error))


def _counted(error: grpc.aio.AioRpcError) -> int:
    """Waiting for the portal's budget is not a failure: only other errors use up attempts."""
    return 0 if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else 1


def _delay_s(error: grpc.aio.AioRpcError) -> float:
    delay = retry_delay(error)
    return delay.total_seconds() if delay is not None else 1.0
