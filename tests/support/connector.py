"""The connector in tests: its configuration for the sandbox, a gRPC client wrapper of a running
connector, and a proxy that alters chosen portal answers (what the sandbox never says: a
firewall 403, a malformed body, an XML that disagrees with its detail)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import grpc
from aiohttp import web
from google.rpc import error_details_pb2

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import error_details
from gdtmesh.runtime.grpc_server import GrpcService
from sandbox.dataset import Company
from services.gdt_connector.config import ConnectorConfig

SECRET_KEY = base64.b64encode(bytes(range(32))).decode()
TIMEOUT = 20.0

# Generous budgets: the functional tests must not meet the connector's own pacing.
FAST = {
    "portal_account_rate": 500.0,
    "portal_account_burst": 200,
    "portal_global_rate": 2000.0,
    "portal_backoff_initial_seconds": 1.0,
    "portal_backoff_max_seconds": 8.0,
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


StartConnector = Callable[..., Awaitable[Connector]]


def reasons(error: grpc.aio.AioRpcError) -> list[str]:
    """The ErrorInfo reasons among an error's details."""
    return [d.reason for d in error_details(error) if isinstance(d, error_details_pb2.ErrorInfo)]


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
