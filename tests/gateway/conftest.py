"""Gateway fixtures: the gateway in-process on a free port, the real Temporal dev server and a
worker running the real import workflow over activity doubles, on a fresh task queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from gateway_support import CODEC_KEYS, Gateway, gateway_config
from import_activities import ImportDoubles
from temporalio.client import Client
from temporalio.worker import Worker

from gdtmesh.gateway.v1 import gateway_pb2_grpc
from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import ManagedProcess
from services.gateway.server import start
from workers.imports.workflows import WORKFLOWS


@pytest.fixture(scope="session")
async def gateway_client(temporal_server: ManagedProcess) -> Client:
    return await connect_temporal(temporal_server.address, "default", parse_keys(CODEC_KEYS))


@pytest.fixture
async def gateway(
    temporal_server: ManagedProcess, gateway_client: Client
) -> AsyncIterator[Gateway]:
    task_queue = f"gateway-test-{uuid.uuid4().hex[:12]}"
    imports = ImportDoubles()
    service = await start(gateway_config(temporal_server.address, task_queue), gateway_client)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    try:
        async with Worker(
            gateway_client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=imports.activities(),
            max_heartbeat_throttle_interval=timedelta(milliseconds=100),
            default_heartbeat_throttle_interval=timedelta(milliseconds=100),
        ):
            yield Gateway(
                gateway_pb2_grpc.TaskServiceStub(channel),
                channel,
                imports,
                gateway_client,
                f"127.0.0.1:{service.port}",
            )
            if imports.gate is not None:
                imports.gate.set()  # let gated imports finish before the worker stops
    finally:
        await channel.close()
        await service.stop(0)
