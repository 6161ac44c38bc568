"""The gateway in-process on a free port, in front of a worker running the real import
workflows over activity doubles: what the gateway and the hostile tests run against."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from temporalio.client import Client

from gdtmesh.gateway.v1 import gateway_pb2_grpc
from services.gateway.config import GatewayConfig
from services.gateway.server import start
from tests.support.imports import ImportDoubles, import_worker


@dataclass
class Gateway:
    stub: gateway_pb2_grpc.TaskServiceStub
    channel: grpc.aio.Channel
    imports: ImportDoubles
    client: Client
    address: str  # host:port the gateway listens on
    task_queue: str


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    """The call metadata that presents a tenant's API key."""
    return (("authorization", f"Bearer {key}"),)


@asynccontextmanager
async def running_gateway(
    config: GatewayConfig, client: Client, imports: ImportDoubles
) -> AsyncIterator[Gateway]:
    """Serve the gateway and a worker over `imports` on the config's task queue. On the way
    out the doubles' gates open, so that the imports they hold end before the worker stops."""
    service = await start(config, client)
    address = f"127.0.0.1:{service.port}"
    channel = grpc.aio.insecure_channel(address)
    try:
        async with import_worker(client, config.task_queue, imports.activities()):
            stub = gateway_pb2_grpc.TaskServiceStub(channel)
            try:
                yield Gateway(stub, channel, imports, client, address, config.task_queue)
            finally:
                imports.release()
    finally:
        await channel.close()
        await service.stop(0)
