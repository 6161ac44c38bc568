"""Portal and connector fixtures shared by the test folders (a pytest plugin, registered in
tests/conftest.py): sandbox portals on free loopback ports, their companies, HTTP clients,
Redis, connectors started in-process and a tampering proxy. Everything a test starts stops
after it.

The portals serve `portal_spec`: the connector's fixed data set unless a folder's conftest
overrides that fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2_grpc
from gdtmesh.runtime.config import Secret
from gdtmesh.runtime.grpc_client import open_channel
from programs.mesh.servers import ManagedProcess
from sandbox.app import RunningSandbox, start_sandbox
from sandbox.dataset import Company, Dataset, DatasetSpec
from sandbox.settings import PortalConfig, SandboxSettings, apply_patch
from services.gdt_connector import server
from services.gdt_connector.captcha import solve_captcha
from services.gdt_connector.config import ConnectorConfig
from tests.support.connector import FAST, SECRET_KEY, Connector, StartConnector, TamperingProxy
from tests.support.portal import CONNECTOR_SPEC, PortalClient, StartPortal, serving


@pytest.fixture
def portal_spec() -> DatasetSpec:
    return CONNECTOR_SPEC


@pytest.fixture
async def start_portal(portal_spec: DatasetSpec) -> AsyncIterator[StartPortal]:
    """Start sandboxes with config overrides (no latency unless asked); all stop afterwards."""
    running: list[RunningSandbox] = []

    async def start(
        legacy_port: int | None = None, dataset: Dataset | None = None, **overrides: Any
    ) -> RunningSandbox:
        config = apply_patch(PortalConfig(), {"latency_scale": 0, **overrides})
        settings = SandboxSettings(dataset=portal_spec, config=config, seed=11)
        sandbox = await start_sandbox(settings, legacy_port=legacy_port, dataset=dataset)
        running.append(sandbox)
        return sandbox

    yield start
    for sandbox in running:
        await sandbox.aclose()


@pytest.fixture
async def portal(start_portal: StartPortal) -> RunningSandbox:
    return await start_portal()


@pytest.fixture
def companies(portal: RunningSandbox) -> list[Company]:
    return list(portal.portal.dataset.companies())


@pytest.fixture
def company(companies: list[Company]) -> Company:
    """The unlocked company with invoices in the most flows."""
    return max((c for c in companies if not c.locked), key=lambda c: len(c.flows))


@pytest.fixture
def locked_company(companies: list[Company]) -> Company:
    return next(c for c in companies if c.locked)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(portal: RunningSandbox, session: aiohttp.ClientSession) -> PortalClient:
    return PortalClient(session, portal.api_url)


@pytest.fixture
def make_client(session: aiohttp.ClientSession) -> Callable[[str], PortalClient]:
    return lambda base: PortalClient(session, base)


@pytest.fixture
async def redis(redis_server: ManagedProcess) -> AsyncIterator[Redis]:
    """A client of the shared Redis, emptied before each test."""
    client = Redis.from_url(f"redis://{redis_server.address}/0")
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def start_connector(
    redis: Redis, redis_server: ManagedProcess
) -> AsyncIterator[StartConnector]:
    """Start connectors against a portal URL; config fields as keyword overrides."""
    running: list[Connector] = []

    async def start(
        portal_url: str, *, solver: Callable[[str], str] = solve_captcha, **overrides: Any
    ) -> Connector:
        config = ConnectorConfig(
            gdt_connector_listen="127.0.0.1:0",
            portal_base_url=portal_url,
            redis_url=f"redis://{redis_server.address}/0",
            gdt_connector_secret_key=Secret(SECRET_KEY),
            **{**FAST, **overrides},
        )
        service = await server.start(config, solver=solver)
        channel = open_channel(f"127.0.0.1:{service.port}")
        connector = Connector(
            service, channel, gdt_connector_pb2_grpc.GdtConnectorServiceStub(channel), config
        )
        running.append(connector)
        return connector

    yield start
    for connector in running:
        await connector.channel.close()
        await connector.service.stop(0)


@pytest.fixture
async def connector(start_connector: StartConnector, portal: RunningSandbox) -> Connector:
    return await start_connector(portal.url)


@pytest.fixture
async def proxy(portal: RunningSandbox) -> AsyncIterator[TamperingProxy]:
    """A proxy in front of `portal` that alters the answers its `rules` name."""
    tamper = TamperingProxy(portal.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", tamper.handle)
    async with serving(app) as url:
        tamper.url = url
        yield tamper
