"""The gateway in-process against the real Temporal dev server, with two tenants and a worker
whose login never succeeds: a started import stays RUNNING (the login activity waits) until the
fixture ends, then fails. Module-scoped, so that hypothesis examples share one gateway."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from gdtmesh.runtime.codec import new_key_spec, parse_keys
from gdtmesh.runtime.config import Secret
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import ManagedProcess
from services.gateway.config import GatewayConfig
from services.gateway.server import start
from workers.imports.models import OpenSessionInput
from workers.imports.workflows import WORKFLOWS

CODEC_KEYS = new_key_spec("hostile")
KEY_A = "hostile-tenant-a-key-0123456789"
KEY_B = "hostile-tenant-b-key-0123456789"
TENANTS = {"tenant-a": KEY_A, "tenant-b": KEY_B}


@dataclass
class HostileGateway:
    address: str
    channel: grpc.aio.Channel
    client: Client
    task_queue: str


class StuckLogin:
    """The login activity: waits until released, then refuses (the import fails)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    @activity.defn(name="open_session")
    async def open_session(self, params: OpenSessionInput) -> str:
        await self.release.wait()
        raise ApplicationError("login refused (test double)", non_retryable=True)


def metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


@pytest.fixture(scope="module")
async def hostile_gateway(temporal_server: ManagedProcess) -> AsyncIterator[HostileGateway]:
    client = await connect_temporal(temporal_server.address, "default", parse_keys(CODEC_KEYS))
    task_queue = f"hostile-{uuid.uuid4().hex[:12]}"
    config = GatewayConfig(
        codec_keys=Secret(CODEC_KEYS),
        api_keys=Secret(",".join(f"{tenant}:{key}" for tenant, key in TENANTS.items())),
        gateway_listen="127.0.0.1:0",
        temporal_address=temporal_server.address,
        task_queue=task_queue,
        default_bucket="hostile-bucket",
        gateway_watch_interval_seconds=0.2,
    )
    service = await start(config, client)
    address = f"127.0.0.1:{service.port}"
    channel = grpc.aio.insecure_channel(address)
    login = StuckLogin()
    try:
        async with Worker(
            client, task_queue=task_queue, workflows=WORKFLOWS, activities=[login.open_session]
        ):
            yield HostileGateway(address, channel, client, task_queue)
            login.release.set()
    finally:
        await channel.close()
        await service.stop(0)
