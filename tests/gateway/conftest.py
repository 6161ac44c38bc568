"""Gateway fixtures: the gateway in-process on a free port, the real Temporal dev server and a
worker running the real import workflow over activity doubles, on a fresh task queue."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from import_activities import ImportDoubles
from temporalio.client import Client
from temporalio.worker import Worker

from gdtmesh.gateway.v1 import gateway_pb2_grpc
from gdtmesh.mesh.servers import ManagedProcess
from gdtmesh.runtime.codec import new_key_spec, parse_keys
from gdtmesh.runtime.config import Secret
from gdtmesh.runtime.temporal import connect_temporal
from gdtmesh.taxcode import make_tax_code
from services.gateway.config import GatewayConfig
from services.gateway.server import start
from workers.imports.workflows import InvoiceImportWorkflow

CODEC_KEYS = new_key_spec("gw")
KEY_A = "tenant-a-key-0123456789abcdef"
KEY_B = "tenant-b-key-0123456789abcdef"
DEFAULT_BUCKET = "default-bucket"


@dataclass
class Gateway:
    stub: gateway_pb2_grpc.TaskServiceStub
    channel: grpc.aio.Channel
    imports: ImportDoubles
    client: Client


def auth(key: str = KEY_A) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


def fresh_company() -> str:
    """A valid tax code no other test uses (task ids derive from the company)."""
    return make_tax_code(random.Random(uuid.uuid4().int))


def gateway_config(temporal_address: str, task_queue: str) -> GatewayConfig:
    return GatewayConfig(
        codec_keys=Secret(CODEC_KEYS),
        api_keys=Secret(f"tenant-a:{KEY_A},tenant-b:{KEY_B}"),
        gateway_listen="127.0.0.1:0",
        temporal_address=temporal_address,
        task_queue=task_queue,
        default_bucket=DEFAULT_BUCKET,
    )


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
            workflows=[InvoiceImportWorkflow],
            activities=imports.activities(),
        ):
            yield Gateway(
                gateway_pb2_grpc.TaskServiceStub(channel), channel, imports, gateway_client
            )
            if imports.gate is not None:
                imports.gate.set()  # let gated imports finish before the worker stops
    finally:
        await channel.close()
        await service.stop(0)
