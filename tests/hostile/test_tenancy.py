"""The tenancy matrix: every TaskService RPC with missing, wrong and another tenant's
credentials. Missing or wrong keys are UNAUTHENTICATED; another tenant's task is NOT_FOUND for
every RPC that names a task, is never listed, cannot be cancelled, and an identical start makes
a task of the caller's own. A new RPC fails `test_the_matrix_covers_every_rpc` until it has its
row here."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import message
from google.type import date_pb2

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.gateway.v1 import gateway_pb2_grpc
from gdtmesh.taxcode import make_tax_code
from tests.hostile.gateway_fixtures import KEY_A, KEY_B
from tests.support.gateway import Gateway, bearer

SERVICE = pb.DESCRIPTOR.services_by_name["TaskService"]
TIMEOUT_S = 15.0
# RPC -> the request it is called with, given tenant A's task (spec and id).
REQUESTS: dict[str, Callable[[pb.InvoiceImportSpec, str], message.Message]] = {
    "StartTask": lambda spec, task_id: pb.StartTaskRequest(invoice_import=spec),
    "StartTasks": lambda spec, task_id: pb.StartTasksRequest(
        tasks=[pb.StartTaskRequest(invoice_import=spec)]
    ),
    "GetTask": lambda spec, task_id: pb.GetTaskRequest(task_id=task_id),
    "ListTasks": lambda spec, task_id: pb.ListTasksRequest(page_size=100),
    "WatchTask": lambda spec, task_id: pb.WatchTaskRequest(task_id=task_id),
    "CancelTask": lambda spec, task_id: pb.CancelTaskRequest(task_id=task_id),
    "GetManifest": lambda spec, task_id: pb.GetManifestRequest(task_id=task_id),
}
NAMES_A_TASK = ("GetTask", "WatchTask", "CancelTask", "GetManifest")
BAD_CREDENTIALS = {
    "missing": (),
    "unknown key": bearer("not-a-key-of-any-tenant-000000"),
    "empty bearer": (("authorization", "Bearer "),),
    "wrong scheme": (("authorization", f"Basic {KEY_A}"),),
    "key with a suffix": bearer(KEY_A + "x"),
    "key prefix": bearer(KEY_A[:-1]),
    "unknown x-api-key": (("x-api-key", "not-a-key-of-any-tenant-000000"),),
}


def spec_for(company: str) -> pb.InvoiceImportSpec:
    return pb.InvoiceImportSpec(
        company_tax_code=company,
        credentials=pb.PortalCredentials(password="tenant-a-portal-password"),
        start_date=date_pb2.Date(year=2025, month=3, day=1),
        end_date=date_pb2.Date(year=2025, month=3, day=31),
    )


@pytest.fixture(scope="module")
async def task_of_a(hostile_gateway: Gateway) -> tuple[pb.InvoiceImportSpec, str]:
    """A RUNNING task of tenant A (its login waits until the module ends)."""
    spec = spec_for(make_tax_code(random.Random(uuid.uuid4().int)))
    stub = gateway_pb2_grpc.TaskServiceStub(hostile_gateway.channel)
    reply = await stub.StartTask(
        pb.StartTaskRequest(invoice_import=spec), metadata=bearer(KEY_A), timeout=TIMEOUT_S
    )
    return spec, reply.task.task_id


async def invoke(
    gateway: Gateway, rpc: str, request: message.Message, meta: Any
) -> tuple[grpc.StatusCode, list[Any]]:
    """Call `rpc`; its code and the responses (a stream is read for a moment)."""
    method = SERVICE.methods_by_name[rpc]
    path = f"/{SERVICE.full_name}/{rpc}"
    response_type = getattr(pb, method.output_type.name)
    serialize, parse = type(request).SerializeToString, response_type.FromString
    received: list[Any] = []
    try:
        if method.server_streaming:
            stream = gateway.channel.unary_stream(path, serialize, parse)(
                request, metadata=meta, timeout=1.5
            )
            async for item in stream:
                received.append(item)
        else:
            unary = gateway.channel.unary_unary(path, serialize, parse)
            received.append(await unary(request, metadata=meta, timeout=TIMEOUT_S))
    except grpc.aio.AioRpcError as error:
        if not (method.server_streaming and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED):
            return error.code(), received
    return grpc.StatusCode.OK, received


def test_the_matrix_covers_every_rpc() -> None:
    assert sorted(m.name for m in SERVICE.methods) == sorted(REQUESTS)


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize("rpc", list(REQUESTS))
async def test_missing_or_wrong_credentials_are_unauthenticated(
    hostile_gateway: Gateway,
    task_of_a: tuple[pb.InvoiceImportSpec, str],
    rpc: str,
    credentials: str,
) -> None:
    spec, task_id = task_of_a
    code, _ = await invoke(
        hostile_gateway, rpc, REQUESTS[rpc](spec, task_id), BAD_CREDENTIALS[credentials]
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    await _still_running_for_a(hostile_gateway, task_id)


@pytest.mark.parametrize("rpc", NAMES_A_TASK)
async def test_another_tenants_task_is_not_found(
    hostile_gateway: Gateway, task_of_a: tuple[pb.InvoiceImportSpec, str], rpc: str
) -> None:
    spec, task_id = task_of_a
    code, received = await invoke(hostile_gateway, rpc, REQUESTS[rpc](spec, task_id), bearer(KEY_B))
    assert code == grpc.StatusCode.NOT_FOUND and not received
    await _still_running_for_a(hostile_gateway, task_id)


async def test_another_tenants_tasks_are_never_listed(
    hostile_gateway: Gateway, task_of_a: tuple[pb.InvoiceImportSpec, str]
) -> None:
    spec, task_id = task_of_a
    await _listed_for(hostile_gateway, KEY_A, task_id)  # A sees it (visibility has caught up)
    code, (reply,) = await invoke(
        hostile_gateway, "ListTasks", REQUESTS["ListTasks"](spec, task_id), bearer(KEY_B)
    )
    assert code == grpc.StatusCode.OK
    assert all(not t.task_id.startswith("tenant-a:") for t in reply.tasks), reply.tasks


@pytest.mark.parametrize("rpc", ["StartTask", "StartTasks"])
async def test_the_same_start_by_another_tenant_is_its_own_task(
    hostile_gateway: Gateway, task_of_a: tuple[pb.InvoiceImportSpec, str], rpc: str
) -> None:
    spec, task_id = task_of_a
    code, (reply,) = await invoke(hostile_gateway, rpc, REQUESTS[rpc](spec, task_id), bearer(KEY_B))
    assert code == grpc.StatusCode.OK
    result = reply.results[0] if rpc == "StartTasks" else reply
    assert result.task.task_id.startswith("tenant-b:") and result.task.task_id != task_id
    assert not result.task.invoice_import.company_tax_code or (
        result.task.invoice_import.company_tax_code == spec.company_tax_code
    )
    await _still_running_for_a(hostile_gateway, task_id)


async def _still_running_for_a(gateway: Gateway, task_id: str) -> None:
    code, (reply,) = await invoke(
        gateway, "GetTask", pb.GetTaskRequest(task_id=task_id), bearer(KEY_A)
    )
    assert code == grpc.StatusCode.OK and reply.task.status == pb.TASK_STATUS_RUNNING, reply


async def _listed_for(gateway: Gateway, key: str, task_id: str) -> None:
    for _ in range(50):
        code, (reply,) = await invoke(
            gateway, "ListTasks", pb.ListTasksRequest(page_size=100), bearer(key)
        )
        if code == grpc.StatusCode.OK and any(t.task_id == task_id for t in reply.tasks):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{task_id} never listed for its own tenant")
