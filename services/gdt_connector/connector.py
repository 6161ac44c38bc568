"""The connector's three operations, assembled from its parts (the servicer's domain side)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from gdtmesh.flows import FlowInfo
from services.gdt_connector.access import SessionPortal
from services.gdt_connector.config import ConnectorConfig
from services.gdt_connector.fetching import InvoiceFetcher, ZipLimits, in_order
from services.gdt_connector.listing import list_month
from services.gdt_connector.model import FailedInvoice, FetchedInvoice, ListPage, WantedInvoice
from services.gdt_connector.portal import PortalClient
from services.gdt_connector.sessions import OpenedSession, SessionStore


class Connector:
    def __init__(self, config: ConnectorConfig, client: PortalClient, store: SessionStore) -> None:
        self._config = config
        self._client = client
        self._store = store
        self._limits = ZipLimits(
            config.gdt_connector_zip_max_bytes, config.gdt_connector_zip_max_ratio
        )

    async def open_session(self, username: str, password: str, company: str = "") -> OpenedSession:
        return await self._store.open(username, password, company)

    async def list_invoices(
        self, session_id: str, flow: FlowInfo, year: int, month: int, resume_token: str = ""
    ) -> AsyncIterator[ListPage]:
        portal = await self._portal(session_id)
        timeout = self._config.portal_list_timeout_seconds
        async for page in list_month(portal, flow, year, month, timeout, resume_token):
            yield page

    async def fetch_invoices(
        self, session_id: str, flow: FlowInfo, wanted: Sequence[WantedInvoice]
    ) -> AsyncIterator[FetchedInvoice | FailedInvoice]:
        fetcher = InvoiceFetcher(await self._portal(session_id), flow.family, self._limits)
        async for result in in_order(
            wanted, fetcher.fetch, self._config.gdt_connector_fetch_concurrency
        ):
            yield result

    async def _portal(self, session_id: str) -> SessionPortal:
        return SessionPortal(self._client, self._store, await self._store.resolve(session_id))
