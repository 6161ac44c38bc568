"""A small async client of the gateway's TaskService, for the CLI, the demo, tests and benchmarks.

Other teams use the generated stubs directly; this only adds the credentials, deadlines, paging,
batching and the "start, then follow until done" loops everyone needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.type import date_pb2

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.runtime.errors import retry_delay
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.task_api import FINISHED_STATUSES, MAX_START_BATCH

DEFAULT_GATEWAY = "127.0.0.1:50051"
DEFAULT_ENDPOINTS_FILE = Path("mesh.json")  # what `make run` writes
# Worth coming back for: the gateway is restarting, shedding load, or the stream timed out.
_TRANSIENT = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)
WATCH_DEADLINE_S = 600.0  # a watch stream is renewed this often


def to_date(day: dt.date) -> date_pb2.Date:
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def import_request(
    company: str,
    password: str,
    start: dt.date,
    end: dt.date,
    flows: Sequence[Flow.ValueType] = (),
    *,
    username: str = "",
    bucket: str = "",
    request_id: str = "",
    max_concurrent_invoices: int = 0,
    rerun: bool = False,
    download_all: bool = False,
) -> gateway_pb2.StartTaskRequest:
    spec = gateway_pb2.InvoiceImportSpec(
        company_tax_code=company,
        credentials=gateway_pb2.PortalCredentials(username=username, password=password),
        start_date=to_date(start),
        end_date=to_date(end),
        flows=list(flows),
        bucket=bucket,
        max_concurrent_invoices=max_concurrent_invoices,
        download_all=download_all,
    )
    return gateway_pb2.StartTaskRequest(request_id=request_id, invoice_import=spec, rerun=rerun)


@dataclass(frozen=True)
class GatewayTarget:
    """Where the gateway is and the key to call it with."""

    address: str
    api_key: str

    @classmethod
    def resolve(
        cls,
        address: str | None = None,
        api_key: str | None = None,
        endpoints_file: Path | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> GatewayTarget:
        """Flags first, then GDTMESH_GATEWAY / GDTMESH_API_KEY, then the endpoints file
        (`gdtmesh up --endpoints-file`; ./mesh.json when present). ValueError when no key."""
        found: dict[str, str] = {}
        path = endpoints_file or (
            DEFAULT_ENDPOINTS_FILE if DEFAULT_ENDPOINTS_FILE.exists() else None
        )
        if path is not None:
            found = _endpoints(path)
        address = address or environ.get("GDTMESH_GATEWAY") or found.get("gateway")
        api_key = api_key or environ.get("GDTMESH_API_KEY") or found.get("api_key")
        if not api_key:
            raise ValueError(
                "no API key: pass --api-key, set GDTMESH_API_KEY, or give --endpoints-file "
                "(what `gdtmesh up --endpoints-file` writes)"
            )
        return cls(address or DEFAULT_GATEWAY, api_key)


def _endpoints(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise ValueError(f"{path} is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return {key: str(value) for key, value in document.items()}


class GatewayClient:
    def __init__(self, address: str, api_key: str, *, timeout: float = 30.0) -> None:
        self._channel = open_channel(address)
        self._stub = gateway_pb2_grpc.TaskServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._timeout = timeout

    @classmethod
    def to(cls, target: GatewayTarget, *, timeout: float = 30.0) -> GatewayClient:
        return cls(target.address, target.api_key, timeout=timeout)

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
        rerun: bool = False,
    ) -> gateway_pb2.StartTaskResponse:
        request = import_request(
            company, password, start, end, flows, bucket=bucket, request_id=request_id, rerun=rerun
        )
        return await self.start_task(request)

    async def start_task(
        self, request: gateway_pb2.StartTaskRequest
    ) -> gateway_pb2.StartTaskResponse:
        return await self._stub.StartTask(request, metadata=self._metadata, timeout=self._timeout)

    async def start_tasks(
        self, requests: Sequence[gateway_pb2.StartTaskRequest]
    ) -> list[gateway_pb2.StartTaskResult]:
        """Start any number of tasks, MAX_START_BATCH per call; one result per request, in order."""
        results: list[gateway_pb2.StartTaskResult] = []
        for first in range(0, len(requests), MAX_START_BATCH):
            batch = gateway_pb2.StartTasksRequest(tasks=requests[first : first + MAX_START_BATCH])
            reply = await self._stub.StartTasks(
                batch, metadata=self._metadata, timeout=max(self._timeout, 120.0)
            )
            results += reply.results
        return results

    async def get_task(self, task_id: str) -> gateway_pb2.Task:
        reply = await self._stub.GetTask(
            gateway_pb2.GetTaskRequest(task_id=task_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.task

    async def get_manifest(self, task_id: str) -> gateway_pb2.GetManifestResponse:
        return await self._stub.GetManifest(
            gateway_pb2.GetManifestRequest(task_id=task_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )

    async def cancel_task(self, task_id: str) -> gateway_pb2.Task:
        reply = await self._stub.CancelTask(
            gateway_pb2.CancelTaskRequest(task_id=task_id),
            metadata=self._metadata,
            timeout=self._timeout,
        )
        return reply.task

    async def list_tasks(
        self, request: gateway_pb2.ListTasksRequest | None = None
    ) -> AsyncIterator[gateway_pb2.Task]:
        """Every task the filters select, page after page."""
        page = gateway_pb2.ListTasksRequest()
        if request is not None:
            page.CopyFrom(request)
        while True:
            reply = await self._stub.ListTasks(page, metadata=self._metadata, timeout=self._timeout)
            for task in reply.tasks:
                yield task
            if not reply.next_page_token:
                return
            page.page_token = reply.next_page_token

    async def watch(self, task_id: str) -> AsyncIterator[gateway_pb2.Task]:
        """The task at every change until it finishes (the last one is final), over WatchTask;
        a dropped or shed stream is opened again after the delay the gateway asks for."""
        while True:
            stream = self._stub.WatchTask(
                gateway_pb2.WatchTaskRequest(task_id=task_id),
                metadata=self._metadata,
                timeout=WATCH_DEADLINE_S,
            )
            try:
                async for reply in stream:
                    yield reply.task
                    if reply.task.status in FINISHED_STATUSES:
                        return
            except grpc.aio.AioRpcError as error:
                if error.code() not in _TRANSIENT:
                    raise
                delay = retry_delay(error)
                await asyncio.sleep(delay.total_seconds() if delay else 1.0)
            finally:
                stream.cancel()

    async def follow(
        self, task_id: str, *, interval: float = 1.0
    ) -> AsyncIterator[gateway_pb2.Task]:
        """Yield the task every `interval` seconds until it finishes (the last one is final)."""
        while True:
            try:
                task = await self.get_task(task_id)
            except grpc.aio.AioRpcError as error:
                if error.code() not in _TRANSIENT:
                    raise
                await asyncio.sleep(interval)
                continue
            yield task
            if task.status in FINISHED_STATUSES:
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
