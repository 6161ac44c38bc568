"""Shared helpers of the gateway tests: keys, the tenant metadata, fresh companies."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import grpc
from import_activities import ImportDoubles
from temporalio.client import Client

from gdtmesh.gateway.v1 import gateway_pb2_grpc
from gdtmesh.runtime.codec import new_key_spec
from gdtmesh.runtime.config import Secret
from gdtmesh.taxcode import make_tax_code
from services.gateway.config import GatewayConfig

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
