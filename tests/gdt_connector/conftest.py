"""Fixtures for the connector: a real sandbox portal and real Redis, connector servers started
in-process on free ports, real gRPC clients, and a tampering proxy for the portal answers the
sandbox cannot produce (a firewall 403, a malformed body, an XML that disagrees)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2_grpc
from gdtmesh.runtime.config import Secret
from gdtmesh.runtime.grpc_client import open_channel
from programs.mesh.servers import ManagedProcess
from sandbox.app import RunningSandbox, start_sandbox
from sandbox.dataset import Company
from sandbox.settings import PortalConfig, SandboxSettings, apply_patch
from services.gdt_connector import server
from services.gdt_connector.captcha import solve_captcha
from services.gdt_connector.config import ConnectorConfig
from tests.gdt_connector.connector_helpers import (
    FAST,
    SECRET_KEY,
    TEST_SPEC,
    Connector,
    StartConnector,
    StartPortal,
    TamperingProxy,
)


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
def company(portal: RunningSandbox) -> Company:
    """The unlocked company with invoices in the most flows."""
    companies = [c for c in portal.portal.dataset.companies() if not c.locked]
    return max(companies, key=lambda c: len(c.flows))


@pytest.fixture
def locked_company(portal: RunningSandbox) -> Company:
    return next(c for c in portal.portal.dataset.companies() if c.locked)


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


# ---- a proxy that alters chosen portal answers ------------------------------------------------


@pytest.fixture
async def proxy(portal: RunningSandbox) -> AsyncIterator[TamperingProxy]:
    tamper = TamperingProxy(portal.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", tamper.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    tamper.url = f"http://127.0.0.1:{port}"
    yield tamper
    await runner.cleanup()
