"""The sandbox portal in tests: the data sets, a crawler-like client of its API, its admin
endpoints (`/_sandbox/...`), and any aiohttp app served on a free loopback port."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.app import RunningSandbox
from sandbox.dataset import FAMILY, Company, DatasetSpec
from services.gdt_connector.captcha.solver import solve_captcha

# The sandbox's own tests: three months up to the real today.
SANDBOX_SPEC = DatasetSpec(seed=7, companies=3, invoices_per_company=400, months=3)
# The connector's: a fixed "today" keeps the data set (and late purchase arrivals) the same on
# every run; MONTHS are its months, the latest first.
CONNECTOR_SPEC = DatasetSpec(
    seed=7, companies=3, invoices_per_company=300, months=2, today=date(2026, 3, 20)
)
MONTHS = ((2026, 3), (2026, 2))

LIST_PATH = {
    "ban_ra_dien_tu": "/query/invoices/sold",
    "ban_ra_may_tinh_tien": "/sco-query/invoices/sold",
    "mua_vao_dien_tu": "/query/invoices/purchase",
    "mua_vao_may_tinh_tien": "/sco-query/invoices/purchase",
}
Key = tuple[str, str, int, int]  # nbmst, khhdon, shdon, khmshdon
StartPortal = Callable[..., Awaitable[RunningSandbox]]


class PortalClient:
    """A crawler of the portal API at `base` (`.../api` or the legacy base)."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base
        self.token: str | None = None

    def headers(self, *, token: bool = True) -> dict[str, str]:
        headers = {"request-id": str(uuid.uuid4())}
        if token and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def captcha(self) -> dict[str, str]:
        async with self.session.get(f"{self.base}/captcha") as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def authenticate(
        self, username: str, password: str, cvalue: str | None = None, ckey: str | None = None
    ) -> aiohttp.ClientResponse:
        """One login attempt with a fresh captcha, solved by the connector's solver."""
        if ckey is None:
            captcha = await self.captcha()
            ckey = captcha["key"]
            cvalue = solve_captcha(captcha["content"]) if cvalue is None else cvalue
        body = {"username": username, "password": password, "ckey": ckey, "cvalue": cvalue}
        response = await self.session.post(
            f"{self.base}/security-taxpayer/authenticate", json=body, headers=self.headers()
        )
        await response.read()
        return response

    async def login(self, company: Company) -> str:
        response = await self.authenticate(company.mst, company.password)
        assert response.status == 200, await response.text()
        self.token = (await response.json())["token"]
        return self.token

    async def get(self, path: str, **params: Any) -> aiohttp.ClientResponse:
        query = {name: str(value) for name, value in params.items() if value is not None}
        response = await self.session.get(
            f"{self.base}{path}", params=query, headers=self.headers()
        )
        await response.read()
        return response

    async def list_page(
        self,
        flow: str,
        search: str,
        size: int = 50,
        state: str | None = None,
        sort: str = "tdlap:desc",
    ) -> aiohttp.ClientResponse:
        return await self.get(LIST_PATH[flow], sort=sort, size=size, search=search, state=state)

    async def list_all(
        self, flow: str, search: str, size: int = 50, sort: str = "tdlap:desc"
    ) -> list[dict[str, Any]]:
        """Every row of a query, page by page with `state`, as crawlers do."""
        rows: list[dict[str, Any]] = []
        state: str | None = None
        seen_states: set[str] = set()
        while True:
            response = await self.list_page(flow, search, size, state, sort)
            assert response.status == 200, await response.text()
            page = await response.json()
            assert set(page) == {"datas", "total", "state", "time"}
            rows += page["datas"]
            state = page["state"]
            if not state:
                return rows
            assert state not in seen_states, "repeated state"
            seen_states.add(state)

    async def detail(
        self, flow: str, key: dict[str, Any], what: str = "detail"
    ) -> aiohttp.ClientResponse:
        return await self.get(f"/{FAMILY[flow]}/invoices/{what}", **key)

    @staticmethod
    def month_search(year: int, month: int, extra: str = "") -> str:
        """The filter crawlers send for one calendar month."""
        first = date(year, month, 1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return f"tdlap=ge={first:%d/%m/%Y}T00:00:00;tdlap=le={last:%d/%m/%Y}T23:59:59{extra}"

    @staticmethod
    def key_of(row: dict[str, Any]) -> Key:
        return (row["nbmst"], row["khhdon"], int(row["shdon"]), int(row["khmshdon"]))


async def truth(
    session: aiohttp.ClientSession,
    portal: RunningSandbox,
    company: str,
    flow: str,
    year: int,
    month: int,
) -> list[Key]:
    """The keys the sandbox's ground truth lists for one company, flow and month."""
    params = {"company": company, "flow": flow, "month": f"{year:04d}-{month:02d}"}
    async with session.get(f"{portal.url}/_sandbox/truth", params=params) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert body["count"] == len(body["invoices"])
    return [PortalClient.key_of(invoice) for invoice in body["invoices"]]


async def configure(
    session: aiohttp.ClientSession, portal: RunningSandbox, patch: dict[str, Any]
) -> dict[str, Any]:
    """Change the running sandbox's config; returns the config it shows."""
    async with session.post(f"{portal.url}/_sandbox/config", json=patch) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def portal_stats(session: aiohttp.ClientSession, portal: RunningSandbox) -> dict[str, Any]:
    async with session.get(f"{portal.url}/_sandbox/stats") as response:
        return await response.json()


def requests_to(portal: RunningSandbox, path: str) -> dict[str, int]:
    """Answers the sandbox gave on one endpoint so far, by status."""
    return dict(portal.portal.stats.to_dict()["requests"].get(path, {}))


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
