"""Gateway fixtures: the gateway in-process on a free port, the real Temporal dev server and a
worker running the real import workflows over activity doubles (three invoices a month), on a
fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from gateway_support import CODEC_KEYS, Gateway, gateway_config
from temporalio.client import Client

from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import ManagedProcess
from tests.support.gateway import running_gateway
from tests.support.imports import ImportDoubles


@pytest.fixture(scope="session")
async def gateway_client(temporal_server: ManagedProcess) -> Client:
    return await connect_temporal(temporal_server.address, "default", parse_keys(CODEC_KEYS))


@pytest.fixture
async def gateway(
    temporal_server: ManagedProcess, gateway_client: Client
) -> AsyncIterator[Gateway]:
    config = gateway_config(temporal_server.address, f"gateway-test-{uuid.uuid4().hex[:12]}")
    async with running_gateway(config, gateway_client, ImportDoubles(per_month=3)) as gateway:
        yield gateway
