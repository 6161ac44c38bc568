"""Tasks on Temporal: a registry of task kinds, and starting and reading tasks as workflows.

A task kind (`TaskKind`) is one `oneof` member of `StartTaskRequest.task` / `Task.details` and one
workflow: it validates its spec, derives the task key, builds the workflow input and turns the
workflow's progress into its details message. Adding a kind is a new member, a new workflow and
one more `TaskKind` in the list the server builds; nothing here changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import grpc
import structlog
from google.protobuf import message
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.runtime.errors import ServiceError, bad_request
from services.gateway.task_ids import TaskId

log = structlog.get_logger(__name__)

START_TOKEN = "start_token"  # memo key: which StartTask call created the workflow
MAX_REQUEST_ID_CHARS = 128

_STATUS = {
    WorkflowExecutionStatus.RUNNING: gateway_pb2.TASK_STATUS_RUNNING,
    WorkflowExecutionStatus.CONTINUED_AS_NEW: gateway_pb2.TASK_STATUS_RUNNING,
    WorkflowExecutionStatus.COMPLETED: gateway_pb2.TASK_STATUS_SUCCEEDED,
    WorkflowExecutionStatus.FAILED: gateway_pb2.TASK_STATUS_FAILED,
    WorkflowExecutionStatus.CANCELED: gateway_pb2.TASK_STATUS_CANCELLED,
    WorkflowExecutionStatus.TERMINATED: gateway_pb2.TASK_STATUS_TERMINATED,
    WorkflowExecutionStatus.TIMED_OUT: gateway_pb2.TASK_STATUS_TERMINATED,
}


class TaskKind(Protocol):
    """One kind of task: a `oneof` member and the workflow that runs it."""

    member: str  # the oneof member in StartTaskRequest.task and Task.details
    id_segment: str  # the kind's part of task ids
    workflow: str  # workflow type name
    progress_query: str  # query answering the progress while running

    @property
    def result_type(self) -> type:
        """Type of the workflow's result and of the progress query's answer."""
        ...

    def validate(self, spec: Any) -> dict[str, str]:
        """Problems with the spec: field path (relative to the member) -> what is wrong."""
        ...

    def task_key(self, spec: Any) -> str:
        """What identifies the task within the tenant and kind (deterministic)."""
        ...

    def workflow_input(self, task_id: str, spec: Any) -> Any: ...

    def memo(self, spec: Any) -> dict[str, Any]:
        """The spec's non-secret parameters, kept with the workflow for the details."""
        ...

    def initial_progress(self) -> Any:
        """The progress of a task that has just started."""
        ...

    def details(self, memo: Mapping[str, Any], progress: Any | None) -> message.Message:
        """The Task.details member; `progress` is None when it could not be read."""
        ...


class Tasks:
    """Start and read tasks of the given kinds as workflows on `task_queue`."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        kinds: Sequence[TaskKind],
        *,
        rpc_timeout: timedelta = timedelta(seconds=10),
        query_timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._by_member = {kind.member: kind for kind in kinds}
        self._by_segment = {kind.id_segment: kind for kind in kinds}
        self._rpc_timeout = rpc_timeout
        self._query_timeout = query_timeout

    async def start(
        self, tenant: str, request: gateway_pb2.StartTaskRequest
    ) -> tuple[gateway_pb2.Task, bool]:
        """Start the task, or find the identical one; returns it and whether it existed."""
        kind, spec = self._kind_of(request)
        task_id = TaskId(tenant, kind.id_segment, kind.task_key(spec))
        token = uuid.uuid4().hex
        try:
            await self._client.start_workflow(
                kind.workflow,
                kind.workflow_input(str(task_id), spec),
                id=str(task_id),
                task_queue=self._task_queue,
                # Running: join it. Succeeded: that is the answer. Failed: run it again.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                memo={**kind.memo(spec), START_TOKEN: token},
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as error:
            raise _unavailable(error) from None
        task, started_here = await self._load(kind, task_id, token)
        log.info("task started" if started_here else "task joined", task_id=str(task_id))
        return task, not started_here

    async def get(self, tenant: str, task_id: str) -> gateway_pb2.Task:
        if not task_id:
            raise bad_request({"task_id": "required"})
        parsed = TaskId.parse(task_id)
        kind = self._by_segment.get(parsed.kind) if parsed else None
        if parsed is None or kind is None or parsed.tenant != tenant:
            raise _not_found()
        task, _ = await self._load(kind, parsed)
        return task

    def _kind_of(self, request: gateway_pb2.StartTaskRequest) -> tuple[TaskKind, Any]:
        member = request.WhichOneof("task")
        if member is None or member not in self._by_member:
            choices = ", ".join(sorted(self._by_member))
            raise bad_request({"task": f"set exactly one task kind ({choices})"})
        kind = self._by_member[member]
        spec = getattr(request, member)
        problems = {f"{member}.{field}": why for field, why in kind.validate(spec).items()}
        if len(request.request_id) > MAX_REQUEST_ID_CHARS:
            problems["request_id"] = f"at most {MAX_REQUEST_ID_CHARS} characters"
        if problems:
            raise bad_request(problems)
        return kind, spec

    async def _load(
        self, kind: TaskKind, task_id: TaskId, started_by: str = ""
    ) -> tuple[gateway_pb2.Task, bool]:
        """The task as it stands, and whether the StartTask call `started_by` created it."""
        handle = self._client.get_workflow_handle(str(task_id), result_type=kind.result_type)
        try:
            description = await handle.describe(rpc_timeout=self._rpc_timeout)
            memo = await description.memo()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise _not_found() from None
            raise _unavailable(error) from None
        started_here = bool(started_by) and memo.get(START_TOKEN) == started_by
        status = _STATUS.get(description.status) if description.status else None
        status = status or gateway_pb2.TASK_STATUS_UNSPECIFIED
        task = gateway_pb2.Task(task_id=str(task_id), status=status)
        task.create_time.FromDatetime(description.start_time)
        if description.close_time is not None:
            task.close_time.FromDatetime(description.close_time)
        if status == gateway_pb2.TASK_STATUS_FAILED:
            task.failure_message = await self._failure_message(handle)
        progress = (
            kind.initial_progress() if started_here else await self._progress(kind, handle, status)
        )
        getattr(task, kind.member).CopyFrom(kind.details(memo, progress))
        return task, started_here

    async def _progress(
        self, kind: TaskKind, handle: WorkflowHandle[Any, Any], status: int
    ) -> Any | None:
        """The result once succeeded, else the progress query's answer (None if unanswered:
        no worker polls, or the workflow has not run its first task yet)."""
        try:
            if status == gateway_pb2.TASK_STATUS_SUCCEEDED:
                return await handle.result(rpc_timeout=self._rpc_timeout)
            return await handle.query(
                kind.progress_query, result_type=kind.result_type, rpc_timeout=self._query_timeout
            )
        except (RPCError, WorkflowQueryFailedError, WorkflowFailureError) as error:
            log.info("progress unavailable", task_id=handle.id, error_type=type(error).__name__)
            return None

    async def _failure_message(self, handle: WorkflowHandle[Any, Any]) -> str:
        try:
            await handle.result(rpc_timeout=self._rpc_timeout)
        except WorkflowFailureError as error:
            cause = error.cause
            return cause.message if isinstance(cause, FailureError) else str(cause)
        except RPCError:
            return "the task failed (its reason is unavailable right now)"
        return ""


def _not_found() -> ServiceError:
    return ServiceError(grpc.StatusCode.NOT_FOUND, "no such task")


def _unavailable(error: RPCError) -> ServiceError:
    log.warning("temporal call failed", status=error.status.name)
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "the task store is unavailable; retry later")
