"""Helpers of the connector tests: the test data set, a gRPC client wrapper and a proxy that
alters chosen portal answers."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

import aiohttp
import grpc
from aiohttp import web

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.grpc_server import GrpcService
from sandbox.app import RunningSandbox
from sandbox.dataset import Company, DatasetSpec
from services.gdt_connector.config import ConnectorConfig

# A fixed "today" keeps the data set (and late purchase arrivals) the same on every run.
TEST_SPEC = DatasetSpec(
    seed=7, companies=3, invoices_per_company=300, months=2, today=date(2026, 3, 20)
)
MONTHS = ((2026, 3), (2026, 2))
SECRET_KEY = base64.b64encode(bytes(range(32))).decode()
TIMEOUT = 20.0

# Generous budgets: the functional tests must not meet the connector's own pacing.
FAST = {
    "portal_account_rate": 500.0,
    "portal_account_burst": 200,
    "portal_global_rate": 2000.0,
    "portal_backoff_initial_s": 1.0,
    "portal_backoff_max_s": 8.0,
}


@dataclass
class Connector:
    """A running connector and a gRPC client of it."""

    service: GrpcService
    channel: grpc.aio.Channel
    stub: gdt_connector_pb2_grpc.GdtConnectorServiceStub
    config: ConnectorConfig

    async def open(self, company: Company, password: str | None = None) -> str:
        request = gdt_connector_pb2.OpenSessionRequest(
            username=company.mst, password=company.password if password is None else password
        )
        response = await self.stub.OpenSession(request, timeout=TIMEOUT)
        return response.session_id

    async def list_pages(
        self, session_id: str, flow: invoice_pb2.Flow.ValueType, year: int, month: int
    ) -> list[gdt_connector_pb2.ListInvoicesResponse]:
        request = gdt_connector_pb2.ListInvoicesRequest(
            session_id=session_id, flow=flow, month=invoice_pb2.YearMonth(year=year, month=month)
        )
        return [page async for page in self.stub.ListInvoices(request, timeout=TIMEOUT)]

    async def list_all(
        self, session_id: str, flow: invoice_pb2.Flow.ValueType, year: int, month: int
    ) -> list[invoice_pb2.InvoiceSummary]:
        pages = await self.list_pages(session_id, flow, year, month)
        return [invoice for page in pages for invoice in page.invoices]

    async def fetch(
        self,
        session_id: str,
        flow: invoice_pb2.Flow.ValueType,
        invoices: list[invoice_pb2.InvoiceSummary],
    ) -> list[gdt_connector_pb2.FetchInvoicesResponse]:
        request = gdt_connector_pb2.FetchInvoicesRequest(
            session_id=session_id, flow=flow, invoices=invoices
        )
        return [item async for item in self.stub.FetchInvoices(request, timeout=TIMEOUT)]


def requests_to(portal: RunningSandbox, path: str) -> dict[str, int]:
    """Answers the sandbox gave on one endpoint so far, by status."""
    return dict(portal.portal.stats.to_dict()["requests"].get(path, {}))


# Given the request and the real answer (status, body): a replacement, or None to pass it on.
Rewrite = Callable[[web.Request, int, bytes], web.StreamResponse | None]


@dataclass
class TamperingProxy:
    """Forwards everything to the sandbox; an answer whose path ends with a key of `rules` may
    be replaced by that rule."""

    target: str
    rules: dict[str, Rewrite] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "content-length")
        }
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                self.target + request.path_qs,
                headers=headers,
                data=await request.read(),
            ) as answer,
        ):
            body = await answer.read()
            for suffix, rewrite in self.rules.items():
                replaced = (
                    rewrite(request, answer.status, body) if request.path.endswith(suffix) else None
                )
                if replaced is not None:
                    return replaced
            passed = {
                name: value
                for name, value in answer.headers.items()
                if name.lower() in ("content-type", "set-cookie", "retry-after")
            }
            return web.Response(status=answer.status, body=body, headers=passed)


StartPortal = Callable[..., Awaitable[RunningSandbox]]
StartConnector = Callable[..., Awaitable[Connector]]
