"""The shared server: health, reflection, rich errors, no leaked exception text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from gdtmesh.runtime.errors import bad_request, error_details, retry_delay, retry_later
from gdtmesh.runtime.grpc_server import GrpcService, start_grpc_service


class Scripted(gateway_pb2_grpc.TaskServiceServicer):
    async def StartTask(self, request, context):  # type: ignore[no-untyped-def]
        raise bad_request({"invoice_import.company_tax_code": "must be 10 digits"})

    async def GetTask(self, request, context):  # type: ignore[no-untyped-def]
        if request.task_id == "busy":
            raise retry_later(timedelta(seconds=7.5), "portal budget exhausted")
        raise RuntimeError("secret-password-in-exception-text")


@pytest.fixture
async def service() -> AsyncIterator[GrpcService]:
    def register(server: grpc.aio.Server) -> list[str]:
        gateway_pb2_grpc.add_TaskServiceServicer_to_server(Scripted(), server)
        return [gateway_pb2.DESCRIPTOR.services_by_name["TaskService"].full_name]

    running = await start_grpc_service("127.0.0.1:0", register)
    yield running
    await running.stop(0)


async def test_health_and_reflection(service: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="gdtmesh.gateway.v1.TaskService"), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for answer in stub.ServerReflectionInfo(iter([request]), timeout=5):
            names = {s.name for s in answer.list_services_response.service}
            break
        assert "gdtmesh.gateway.v1.TaskService" in names


async def test_rich_errors_reach_the_client(service: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = gateway_pb2_grpc.TaskServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.StartTask(gateway_pb2.StartTaskRequest(), timeout=5)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        [violations] = [d for d in error_details(bad.value) if hasattr(d, "field_violations")]
        assert isinstance(violations, error_details_pb2.BadRequest)
        assert violations.field_violations[0].field == "invoice_import.company_tax_code"

        with pytest.raises(grpc.aio.AioRpcError) as busy:
            await stub.GetTask(gateway_pb2.GetTaskRequest(task_id="busy"), timeout=5)
        assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert retry_delay(busy.value) == timedelta(seconds=7.5)


async def test_unexpected_errors_are_internal_without_their_text(service: GrpcService) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = gateway_pb2_grpc.TaskServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as crashed:
            await stub.GetTask(gateway_pb2.GetTaskRequest(task_id="x"), timeout=5)
        assert crashed.value.code() == grpc.StatusCode.INTERNAL
        assert "secret" not in (crashed.value.details() or "")


async def test_a_taken_port_is_a_clear_error(service: GrpcService) -> None:
    with pytest.raises(OSError, match=f"127.0.0.1:{service.port}"):
        await start_grpc_service(f"127.0.0.1:{service.port}", lambda server: [])
