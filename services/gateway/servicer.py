"""`gdtmesh.gateway.v1.TaskService`: thin translation between the API and `Tasks`."""

from __future__ import annotations

import grpc

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from services.gateway.auth import current_tenant
from services.gateway.tasks import Tasks

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["TaskService"].full_name


class TaskServicer(gateway_pb2_grpc.TaskServiceServicer):
    def __init__(self, tasks: Tasks) -> None:
        self._tasks = tasks

    async def StartTask(
        self, request: gateway_pb2.StartTaskRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.StartTaskResponse:
        task, existed = await self._tasks.start(current_tenant(), request)
        return gateway_pb2.StartTaskResponse(task=task, already_exists=existed)

    async def GetTask(
        self, request: gateway_pb2.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetTaskResponse:
        task = await self._tasks.get(current_tenant(), request.task_id)
        return gateway_pb2.GetTaskResponse(task=task)
