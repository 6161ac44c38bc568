"""Shared helpers of the gateway tests: keys, the tenant metadata, fresh companies, requests,
waiting for a task. The gateway itself runs from tests/support/gateway.py."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from google.type import date_pb2

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.runtime.codec import new_key_spec
from gdtmesh.runtime.config import Secret
from gdtmesh.taxcode import make_tax_code
from services.gateway.config import GatewayConfig
from tests.support.gateway import Gateway, bearer  # Gateway: the tests' fixture type

CODEC_KEYS = new_key_spec("gw")
KEY_A = "tenant-a-key-0123456789abcdef"
KEY_B = "tenant-b-key-0123456789abcdef"
DEFAULT_BUCKET = "default-bucket"


def auth(key: str = KEY_A) -> tuple[tuple[str, str], ...]:
    return bearer(key)


def fresh_company() -> str:
    """A valid tax code no other test uses (task ids derive from the company)."""
    return make_tax_code(random.Random(uuid.uuid4().int))


def gateway_config(temporal_address: str, task_queue: str, **settings: Any) -> GatewayConfig:
    defaults: dict[str, Any] = {
        "codec_keys": Secret(CODEC_KEYS),
        "api_keys": Secret(f"tenant-a:{KEY_A},tenant-b:{KEY_B}"),
        "gateway_listen": "127.0.0.1:0",
        "default_bucket": DEFAULT_BUCKET,
        "gateway_watch_interval_seconds": 0.05,
    }
    return GatewayConfig(
        temporal_address=temporal_address, task_queue=task_queue, **{**defaults, **settings}
    )


PASSWORD = "portal-Pa55word"


def day(year: int, month: int, date: int) -> date_pb2.Date:
    return date_pb2.Date(year=year, month=month, day=date)


def import_request(
    company: str,
    *,
    password: str = PASSWORD,
    start: date_pb2.Date | None = None,
    end: date_pb2.Date | None = None,
    flows: Sequence[int] = (Flow.FLOW_SOLD_ELECTRONIC,),
    **extra: object,
) -> pb.StartTaskRequest:
    spec = pb.InvoiceImportSpec(
        company_tax_code=company,
        credentials=pb.PortalCredentials(password=password),
        start_date=start or day(2025, 1, 15),
        end_date=end or day(2025, 2, 28),
        flows=list(flows),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )
    return pb.StartTaskRequest(invoice_import=spec)


async def rpc_code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value.code()


async def wait_for(gateway: Gateway, task_id: str, done: object, key: str = KEY_A) -> pb.Task:
    for _ in range(200):
        reply = await gateway.stub.GetTask(pb.GetTaskRequest(task_id=task_id), metadata=auth(key))
        if done(reply.task):  # type: ignore[operator]
            return reply.task
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never got there")
