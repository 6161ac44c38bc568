"""The gateway in-process against the real Temporal dev server, with two tenants and a worker
whose login never succeeds: a started import stays RUNNING (the login activity waits) until the
fixture ends, then fails. Module-scoped, so that hypothesis examples share one gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from gdtmesh.runtime.codec import new_key_spec, parse_keys
from gdtmesh.runtime.config import Secret
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import ManagedProcess
from services.gateway.config import GatewayConfig
from tests.support.gateway import Gateway, running_gateway
from tests.support.imports import ImportDoubles

CODEC_KEYS = new_key_spec("hostile")
KEY_A = "hostile-tenant-a-key-0123456789"
KEY_B = "hostile-tenant-b-key-0123456789"
TENANTS = {"tenant-a": KEY_A, "tenant-b": KEY_B}


@pytest.fixture(scope="module")
async def hostile_gateway(temporal_server: ManagedProcess) -> AsyncIterator[Gateway]:
    client = await connect_temporal(temporal_server.address, "default", parse_keys(CODEC_KEYS))
    config = GatewayConfig(
        codec_keys=Secret(CODEC_KEYS),
        api_keys=Secret(",".join(f"{tenant}:{key}" for tenant, key in TENANTS.items())),
        gateway_listen="127.0.0.1:0",
        temporal_address=temporal_server.address,
        task_queue=f"hostile-{uuid.uuid4().hex[:12]}",
        default_bucket="hostile-bucket",
        gateway_watch_interval_seconds=0.2,
    )
    stuck = ImportDoubles(login_gate=asyncio.Event())
    async with running_gateway(config, client, stuck) as gateway:
        yield gateway
