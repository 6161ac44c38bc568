"""A small async client of the gateway's TaskService, for the CLI, the demo, tests and benchmarks.

Other teams use the generated stubs directly; this only adds the credentials and the
"start, then follow until done" loop everyone needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
from google.type import date_pb2

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.runtime.grpc_client import open_channel

FINISHED = {
    gateway_pb2.TASK_STATUS_SUCCEEDED,
    gateway_pb2.TASK_STATUS_FAILED,
    gateway_pb2.TASK_STATUS_CANCELLED,
    gateway_pb2.TASK_STATUS_TERMINATED,
}


def to_date(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


class GatewayClient:
    def __init__(self, address: str, api_key: str, *, timeout: float = 30.0) -> None:
        self._channel = open_channel(address)
        self._stub = gateway_pb2_grpc.TaskServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._timeout = timeout

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._channel.close()

    async def start_import(
        self,
        company: str,
        password: str,
        start: dt.date,
        end: dt.date,
        flows: Sequence[Flow.ValueType] = (),
        *,
        bucket: str = "",
        request_id: str = "",
    ) -> gateway_pb2.StartTaskResponse:
        spec = gateway_pb2.InvoiceImportSpec(
            company_tax_code=company,
            credentials=gateway_pb2.PortalCredentials(password=password),
            start_date=to_date(start),
            end_date=to_date(end),
            flows=list(flows),
            bucket=bucket,
        )
        request = gateway_pb2.StartTaskRequest(request_id=request_id, invoice_import=spec)
        return await self._stub.StartTask(request, metadata=self._metadata, timeout=self._timeout)

    async def get_task(self, task_id: str) -> gateway_pb2.Task:
        reply = await self._stub.GetTask(
            gateway_pb2.GetTaskRequest(task_id=task_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.task

    async def follow(
        self, task_id: str, *, interval: float = 1.0
    ) -> AsyncIterator[gateway_pb2.Task]:
        """Yield the task every `interval` seconds until it finishes (the last one is final)."""
        while True:
            try:
                task = await self.get_task(task_id)
            except grpc.aio.AioRpcError as error:
                if error.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise
                await asyncio.sleep(interval)
                continue
            yield task
            if task.status in FINISHED:
                return
            await asyncio.sleep(interval)

    async def wait(
        self,
        task_id: str,
        *,
        interval: float = 1.0,
        on_update: Callable[[gateway_pb2.Task], None] | None = None,
    ) -> gateway_pb2.Task:
        task = gateway_pb2.Task()
        async for task in self.follow(task_id, interval=interval):
            if on_update:
                on_update(task)
        return task
