"""Fixtures for the sandbox portal: a real server on a free loopback port per test, and a client
that drives it as the real portal's crawlers do (captcha -> login -> lists -> detail -> XML)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import aiohttp
import pytest

from gdtmesh.vncalendar import vietnam_today
from sandbox.app import RunningSandbox, start_sandbox
from sandbox.dataset import FAMILY, Company, DatasetSpec
from sandbox.settings import PortalConfig, SandboxSettings, apply_patch
from services.gdt_connector.captcha.solver import solve_captcha

LIST_PATH = {
    "ban_ra_dien_tu": "/query/invoices/sold",
    "ban_ra_may_tinh_tien": "/sco-query/invoices/sold",
    "mua_vao_dien_tu": "/query/invoices/purchase",
    "mua_vao_may_tinh_tien": "/sco-query/invoices/purchase",
}
TEST_SPEC = DatasetSpec(seed=7, companies=3, invoices_per_company=400, months=3)


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
    def key_of(row: dict[str, Any]) -> tuple[str, str, int, int]:
        return (row["nbmst"], row["khhdon"], int(row["shdon"]), int(row["khmshdon"]))


@pytest.fixture
def months() -> list[tuple[int, int]]:
    """The calendar months the test data set covers, most recent first."""
    today = TEST_SPEC.today or vietnam_today()
    result = []
    year, month = today.year, today.month
    for _ in range(TEST_SPEC.months):
        result.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return result


StartPortal = Callable[..., Awaitable[RunningSandbox]]


@pytest.fixture
async def start_portal() -> AsyncIterator[StartPortal]:
    """Start sandboxes with config overrides (no latency unless asked); all stop afterwards."""
    running: list[RunningSandbox] = []

    async def start(legacy_port: int | None = None, **overrides: Any) -> RunningSandbox:
        config = apply_patch(PortalConfig(), {"latency_scale": 0, **overrides})
        settings = SandboxSettings(dataset=TEST_SPEC, config=config, seed=11)
        sandbox = await start_sandbox(settings, legacy_port=legacy_port)
        running.append(sandbox)
        return sandbox

    yield start
    for sandbox in running:
        await sandbox.aclose()


@pytest.fixture
async def portal(start_portal: StartPortal) -> RunningSandbox:
    return await start_portal()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(portal: RunningSandbox, session: aiohttp.ClientSession) -> PortalClient:
    return PortalClient(session, portal.api_url)


@pytest.fixture
def companies(portal: RunningSandbox) -> list[Company]:
    return list(portal.portal.dataset.companies())


@pytest.fixture
def company(companies: list[Company]) -> Company:
    """The unlocked company with invoices in the most flows."""
    return max((c for c in companies if not c.locked), key=lambda c: len(c.flows))


@pytest.fixture
def make_client(session: aiohttp.ClientSession) -> Callable[[str], PortalClient]:
    return lambda base: PortalClient(session, base)
