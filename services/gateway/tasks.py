"""Tasks on Temporal: a registry of task kinds, and starting, reading, listing, watching and
cancelling tasks as workflows.

A task kind (`TaskKind`) is one `oneof` member of `StartTaskRequest.task` / `Task.details` and one
workflow: it validates its spec, derives the task key, builds the workflow input and turns the
workflow's progress into its details message. Adding a kind is a new member, a new workflow and
one more `TaskKind` in the list the server builds; nothing here changes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import grpc
import structlog
from google.protobuf import message
from google.rpc import status_pb2
from temporalio.api.failure.v1 import message_pb2 as failure_pb2
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.runtime.errors import ServiceError, bad_request, status_from_error
from gdtmesh.task_api import FINISHED_STATUSES, MAX_START_BATCH
from services.gateway import listing, visibility
from services.gateway.task_ids import TaskId

log = structlog.get_logger(__name__)

START_TOKEN = "start_token"  # memo key: which StartTask call created the workflow
REQUEST_ID = "request_id"  # memo key: the client's idempotency key of that call
MAX_REQUEST_ID_CHARS = 128
MAX_FAILURE_REASON_CHARS = 500  # Task.failure_reason is cut to this length

STATUS = {
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

    def company(self, spec: Any) -> str:
        """The company the task is about (ListTasks filters by it)."""
        ...

    def workflow_input(self, task_id: str, spec: Any) -> Any: ...

    def memo(self, task_id: str, spec: Any) -> dict[str, Any]:
        """The spec's non-secret parameters, kept with the workflow for the details."""
        ...

    def initial_progress(self) -> Any:
        """The progress of a task that has just started."""
        ...

    def details(self, memo: Mapping[str, Any], progress: Any | None) -> message.Message:
        """The Task.details member; `progress` is None when it could not be read."""
        ...

    def failure_summary(self, result: Any) -> str:
        """What went wrong in a task that succeeded, e.g. "2 invoices failed"; empty if nothing."""
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
        watch_interval: timedelta = timedelta(seconds=1),
        start_concurrency: int = 16,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._by_member = {kind.member: kind for kind in kinds}
        self._by_segment = {kind.id_segment: kind for kind in kinds}
        self._rpc_timeout = rpc_timeout
        self._query_timeout = query_timeout
        self._watch_interval = watch_interval
        self._start_concurrency = start_concurrency

    # -- starting ------------------------------------------------------------------------------

    async def start(
        self, tenant: str, request: gateway_pb2.StartTaskRequest, *, with_progress: bool = True
    ) -> tuple[gateway_pb2.Task, bool]:
        """Start the task, or find the identical one; returns it and whether it existed."""
        kind, spec = self._kind_of(request)
        task_id = TaskId(tenant, kind.id_segment, kind.task_key(spec))
        if request.request_id:
            earlier = await self._started_by(kind, task_id, request.request_id, with_progress)
            if earlier is not None:
                log.info("task start replayed", task_id=str(task_id))
                return earlier, True
        token = uuid.uuid4().hex
        memo = {**kind.memo(str(task_id), spec), START_TOKEN: token, REQUEST_ID: request.request_id}
        try:
            await self._client.start_workflow(
                kind.workflow,
                kind.workflow_input(str(task_id), spec),
                id=str(task_id),
                task_queue=self._task_queue,
                # Running: join it. Succeeded: that is the answer, unless a rerun is asked for.
                # Failed, cancelled or terminated: run it again.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=(
                    WorkflowIDReusePolicy.ALLOW_DUPLICATE
                    if request.rerun
                    else WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                ),
                memo=memo,
                search_attributes=visibility.task_attributes(
                    tenant, kind.member, kind.company(spec), dt.datetime.now(dt.UTC)
                ),
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as error:
            raise _unavailable(error) from None
        task, started_here = await self._load(kind, task_id, token, with_progress=with_progress)
        log.info("task started" if started_here else "task joined", task_id=str(task_id))
        return task, not started_here

    async def start_many(
        self, tenant: str, requests: Sequence[gateway_pb2.StartTaskRequest]
    ) -> list[gateway_pb2.StartTaskResult]:
        """Start each task on its own; one's failure is its own result."""
        if not 1 <= len(requests) <= MAX_START_BATCH:
            raise bad_request({"tasks": f"give 1-{MAX_START_BATCH} tasks, got {len(requests)}"})
        slots = asyncio.Semaphore(self._start_concurrency)

        async def start_one(request: gateway_pb2.StartTaskRequest) -> gateway_pb2.StartTaskResult:
            async with slots:
                try:
                    task, existed = await self.start(tenant, request, with_progress=False)
                except ServiceError as error:
                    return gateway_pb2.StartTaskResult(status=status_from_error(error))
            return gateway_pb2.StartTaskResult(
                status=status_pb2.Status(code=0), task=task, already_exists=existed
            )

        return list(await asyncio.gather(*(start_one(request) for request in requests)))

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

    async def _started_by(
        self, kind: TaskKind, task_id: TaskId, request_id: str, with_progress: bool
    ) -> gateway_pb2.Task | None:
        """The task as the call with this idempotency key left it, if that call started it."""
        try:
            description = await self._describe(self._handle(kind, task_id))
        except ServiceError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        memo = await description.memo()
        if memo.get(REQUEST_ID) != request_id:
            return None
        task, _ = await self._load(kind, task_id, with_progress=with_progress)
        return task

    # -- reading -------------------------------------------------------------------------------

    async def get(self, tenant: str, task_id: str) -> gateway_pb2.Task:
        kind, parsed = self._parse(tenant, task_id)
        task, _ = await self._load(kind, parsed)
        return task

    async def memo(self, tenant: str, task_id: str) -> Mapping[str, Any]:
        """The task's parameters as it was started with them (company, bucket...)."""
        kind, parsed = self._parse(tenant, task_id)
        description = await self._describe(self._handle(kind, parsed))
        return await description.memo()

    async def watch(self, tenant: str, task_id: str) -> AsyncIterator[gateway_pb2.Task]:
        """The task now, then at every change, until it finishes."""
        kind, parsed = self._parse(tenant, task_id)
        last: gateway_pb2.Task | None = None
        while True:
            task, _ = await self._load(kind, parsed)
            if task != last:
                yield task
                last = task
            if task.status in FINISHED_STATUSES:
                return
            await asyncio.sleep(self._watch_interval.total_seconds())

    async def list(
        self, tenant: str, request: gateway_pb2.ListTasksRequest
    ) -> gateway_pb2.ListTasksResponse:
        page = listing.page_of(tenant, request, set(self._by_member))
        try:
            executions = self._client.list_workflows(
                page.query, page_size=page.size, next_page_token=page.temporal_token
            )
            await executions.fetch_next_page(page_size=page.size)
        except RPCError as error:
            raise _unavailable(error) from None
        tasks = await asyncio.gather(
            *(self._listed(execution) for execution in executions.current_page or ())
        )
        return gateway_pb2.ListTasksResponse(
            tasks=[task for task in tasks if task is not None],
            next_page_token=page.next_token(executions.next_page_token),
        )

    async def _listed(self, execution: WorkflowExecution) -> gateway_pb2.Task | None:
        parsed = TaskId.parse(execution.id)
        kind = self._by_segment.get(parsed.kind) if parsed else None
        if parsed is None or kind is None:
            return None  # not a task this gateway knows (another deployment's workflow)
        task = _task_header(execution.id, execution)
        handle = self._handle(kind, parsed, execution.run_id)  # this run: closed, if listed so
        succeeded = task.status == gateway_pb2.TASK_STATUS_SUCCEEDED
        try:
            result = await self._progress(kind, handle, task.status) if succeeded else None
            await self._add_failure(kind, handle, task, result)
            details = kind.details(await execution.memo(), None)
        except (ValueError, TypeError, KeyError) as error:
            # E.g. a memo or result sealed with a codec key this gateway no longer holds: the
            # task is still listed, with its id and status, instead of failing the whole page.
            log.warning("task details unreadable", task_id=execution.id, error=type(error).__name__)
            return task
        getattr(task, kind.member).CopyFrom(details)
        return task

    # -- cancelling ----------------------------------------------------------------------------

    async def cancel(self, tenant: str, task_id: str) -> gateway_pb2.Task:
        kind, parsed = self._parse(tenant, task_id)
        task, _ = await self._load(kind, parsed, with_progress=False)
        if task.status == gateway_pb2.TASK_STATUS_RUNNING:
            try:
                await self._handle(kind, parsed).cancel(rpc_timeout=self._rpc_timeout)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it just finished
                    raise _unavailable(error) from None
            task, _ = await self._load(kind, parsed)
        if task.status not in (gateway_pb2.TASK_STATUS_RUNNING, gateway_pb2.TASK_STATUS_CANCELLED):
            status = gateway_pb2.TaskStatus.Name(task.status)
            raise ServiceError(
                grpc.StatusCode.FAILED_PRECONDITION, f"the task already finished ({status})"
            )
        log.info("task cancellation requested", task_id=task_id)
        return task

    # -- the task as it stands -----------------------------------------------------------------

    def _parse(self, tenant: str, task_id: str) -> tuple[TaskKind, TaskId]:
        if not task_id:
            raise bad_request({"task_id": "required"})
        parsed = TaskId.parse(task_id)
        kind = self._by_segment.get(parsed.kind) if parsed else None
        if parsed is None or kind is None or parsed.tenant != tenant:
            raise _not_found()
        return kind, parsed

    def _handle(
        self, kind: TaskKind, task_id: TaskId, run_id: str | None = None
    ) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(
            str(task_id), run_id=run_id, result_type=kind.result_type
        )

    async def _describe(self, handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
        try:
            return await handle.describe(rpc_timeout=self._rpc_timeout)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise _not_found() from None
            raise _unavailable(error) from None

    async def _load(
        self, kind: TaskKind, task_id: TaskId, started_by: str = "", *, with_progress: bool = True
    ) -> tuple[gateway_pb2.Task, bool]:
        """The task as it stands, and whether the StartTask call `started_by` created it."""
        handle = self._handle(kind, task_id)
        description = await self._describe(handle)
        memo = await description.memo()
        started_here = bool(started_by) and memo.get(START_TOKEN) == started_by
        task = _task_header(str(task_id), description)
        if task.status == gateway_pb2.TASK_STATUS_RUNNING:
            await self._add_backoff(task, description)
        if started_here:
            progress = kind.initial_progress()
        elif with_progress:
            progress = await self._progress(kind, handle, task.status)
        else:
            progress = None
        await self._add_failure(kind, handle, task, progress)
        getattr(task, kind.member).CopyFrom(kind.details(memo, progress))
        return task, started_here

    async def _add_failure(
        self,
        kind: TaskKind,
        handle: WorkflowHandle[Any, Any],
        task: gateway_pb2.Task,
        progress: Any | None,
    ) -> None:
        """The failure message of a failed task, and the failure reason of a failed task or of
        one that succeeded with failures (`progress` is then its result)."""
        if task.status == gateway_pb2.TASK_STATUS_FAILED:
            task.failure_message = await self._failure_message(handle)
            reason = task.failure_message
        elif task.status == gateway_pb2.TASK_STATUS_SUCCEEDED and progress is not None:
            reason = kind.failure_summary(progress)
        else:
            reason = ""
        task.failure_reason = reason[:MAX_FAILURE_REASON_CHARS]

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

    async def _add_backoff(
        self, task: gateway_pb2.Task, description: WorkflowExecutionDescription
    ) -> None:
        """The latest retry a step waits for: Temporal retries activities on the server (free
        in history), so the wait shows in the pending activities, not in the workflow."""
        now = dt.datetime.now(dt.UTC)
        waiting = [
            pending
            for pending in description.raw_description.pending_activities
            if pending.HasField("next_attempt_schedule_time")
            and pending.next_attempt_schedule_time.ToDatetime(tzinfo=dt.UTC) > now
        ]
        if not waiting:
            return
        pending = max(waiting, key=lambda p: p.next_attempt_schedule_time.ToDatetime())
        backoff = task.backoff
        backoff.retry_time.CopyFrom(pending.next_attempt_schedule_time)
        backoff.step = pending.activity_type.name
        backoff.attempt = pending.attempt
        if pending.HasField("last_failure"):
            backoff.reason = await self._reason(pending.last_failure)

    async def _reason(self, failure: failure_pb2.Failure) -> str:
        try:
            error = await self._client.data_converter.decode_failure(failure)
        except Exception as problem:  # e.g. sealed with a key this gateway does not hold
            log.warning("failure unreadable", error_type=type(problem).__name__)
            return ""
        return error.message if isinstance(error, ApplicationError) else str(error)


def _task_header(
    task_id: str, execution: WorkflowExecution | WorkflowExecutionDescription
) -> gateway_pb2.Task:
    """Id, status and times (the creation time survives continue-as-new)."""
    status = STATUS.get(execution.status) if execution.status else None
    task = gateway_pb2.Task(task_id=task_id, status=status or gateway_pb2.TASK_STATUS_UNSPECIFIED)
    created = execution.typed_search_attributes.get(visibility.CREATE_TIME)
    task.create_time.FromDatetime(created or execution.start_time)
    if execution.close_time is not None:
        task.close_time.FromDatetime(execution.close_time)
    return task


def _not_found() -> ServiceError:
    return ServiceError(grpc.StatusCode.NOT_FOUND, "no such task")


def _unavailable(error: RPCError) -> ServiceError:
    log.warning("temporal call failed", status=error.status.name)
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "the task store is unavailable; retry later")
