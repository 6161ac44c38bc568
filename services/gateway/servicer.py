"""`gdtmesh.gateway.v1.TaskService`: thin translation between the API and `Tasks`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from services.gateway.auth import current_tenant
from services.gateway.manifests import Manifests
from services.gateway.tasks import Tasks

SERVICE_NAME = gateway_pb2.DESCRIPTOR.services_by_name["TaskService"].full_name


class TaskServicer(gateway_pb2_grpc.TaskServiceServicer):
    def __init__(self, tasks: Tasks, manifests: Manifests) -> None:
        self._tasks = tasks
        self._manifests = manifests

    async def StartTask(
        self, request: gateway_pb2.StartTaskRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.StartTaskResponse:
        task, existed = await self._tasks.start(current_tenant(), request)
        return gateway_pb2.StartTaskResponse(task=task, already_exists=existed)

    async def StartTasks(
        self, request: gateway_pb2.StartTasksRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.StartTasksResponse:
        results = await self._tasks.start_many(current_tenant(), request.tasks)
        return gateway_pb2.StartTasksResponse(results=results)

    async def GetTask(
        self, request: gateway_pb2.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetTaskResponse:
        task = await self._tasks.get(current_tenant(), request.task_id)
        return gateway_pb2.GetTaskResponse(task=task)

    async def ListTasks(
        self, request: gateway_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ListTasksResponse:
        return await self._tasks.list(current_tenant(), request)

    async def WatchTask(  # type: ignore[override]
        self, request: gateway_pb2.WatchTaskRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.WatchTaskResponse]:
        async for task in self._tasks.watch(current_tenant(), request.task_id):
            yield gateway_pb2.WatchTaskResponse(task=task)

    async def CancelTask(
        self, request: gateway_pb2.CancelTaskRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CancelTaskResponse:
        task = await self._tasks.cancel(current_tenant(), request.task_id)
        return gateway_pb2.CancelTaskResponse(task=task)

    async def GetManifest(
        self, request: gateway_pb2.GetManifestRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.GetManifestResponse:
        return await self._manifests.get(current_tenant(), request.task_id)
