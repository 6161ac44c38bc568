"""StartTask idempotency (request ids, reruns), StartTasks batches, WatchTask streams, CancelTask,
a task's backoff, and the recent-months resync kind; over the real dev server and the real
workflows with activity doubles."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from datetime import timedelta

import grpc
import pytest
from gateway_support import (
    KEY_B,
    Gateway,
    auth,
    fresh_company,
    import_request,
    rpc_code,
    wait_for,
)
from google.rpc import error_details_pb2, status_pb2

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.vncalendar import vietnam_today
from tests.support.imports import WRONG_PASSWORD


def finished(task: pb.Task) -> bool:
    return task.status not in (pb.TASK_STATUS_RUNNING, pb.TASK_STATUS_UNSPECIFIED)


async def test_a_retried_start_with_the_same_request_id_starts_nothing_new(
    gateway: Gateway,
) -> None:
    request = import_request(fresh_company(), password=WRONG_PASSWORD)
    request.request_id = "client-call-1"
    first = await gateway.stub.StartTask(request, metadata=auth())
    await wait_for(gateway, first.task.task_id, finished)

    retried = await gateway.stub.StartTask(request, metadata=auth())

    assert retried.already_exists and retried.task.status == pb.TASK_STATUS_FAILED
    assert len(gateway.imports.passwords) == 1  # the failed task was not run again
    request.request_id = "client-call-2"  # a new request for the same task: run it again
    again = await gateway.stub.StartTask(request, metadata=auth())
    assert not again.already_exists and again.task.task_id == first.task.task_id


async def test_a_succeeded_task_runs_again_only_when_asked(gateway: Gateway) -> None:
    request = import_request(fresh_company())
    first = await gateway.stub.StartTask(request, metadata=auth())
    await wait_for(gateway, first.task.task_id, finished)

    same = await gateway.stub.StartTask(request, metadata=auth())
    request.rerun = True
    rerun = await gateway.stub.StartTask(request, metadata=auth())
    done = await wait_for(gateway, rerun.task.task_id, finished)

    assert same.already_exists and same.task.status == pb.TASK_STATUS_SUCCEEDED
    assert not rerun.already_exists and rerun.task.task_id == first.task.task_id
    assert done.status == pb.TASK_STATUS_SUCCEEDED
    assert len(gateway.imports.manifests) == 2  # two runs, each with its manifest


async def test_a_batch_starts_each_task_with_its_own_result(gateway: Gateway) -> None:
    companies = [fresh_company() for _ in range(40)]
    requests = [import_request(company) for company in companies]
    requests.append(import_request("0101234567"))  # a wrong check digit
    requests.append(import_request(companies[0]))  # the same task twice

    reply = await gateway.stub.StartTasks(pb.StartTasksRequest(tasks=requests), metadata=auth())

    results = list(reply.results)
    assert len(results) == 42
    assert all(r.status.code == 0 and not r.already_exists for r in results[:40])
    assert [r.task.task_id.split(":")[2] for r in results[:40]] == companies
    bad = results[40]
    assert bad.status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert not bad.HasField("task")
    assert _violations(bad.status) == ["invoice_import.company_tax_code"]
    assert results[41].status.code == 0 and results[41].already_exists
    assert results[41].task.task_id == results[0].task.task_id
    await wait_for(gateway, results[39].task.task_id, finished)


@pytest.mark.parametrize("count", [0, 501])
async def test_a_batch_of_no_tasks_or_too_many_is_refused(gateway: Gateway, count: int) -> None:
    requests = [import_request("0101234560")] * count
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.StartTasks(pb.StartTasksRequest(tasks=requests), metadata=auth())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tasks: give 1-500 tasks" in (raised.value.details() or "")


async def test_watch_streams_changes_until_the_task_ends(gateway: Gateway) -> None:
    gateway.imports.gate = asyncio.Event()
    started = await gateway.stub.StartTask(import_request(fresh_company()), metadata=auth())
    task_id = started.task.task_id
    seen: list[pb.Task] = []

    stream = gateway.stub.WatchTask(pb.WatchTaskRequest(task_id=task_id), metadata=auth())
    async for message in stream:
        seen.append(message.task)
        if message.task.invoice_import.phase == pb.IMPORT_PHASE_DOWNLOADING:
            gateway.imports.gate.set()

    phases = [task.invoice_import.phase for task in seen]
    assert seen[0].status == pb.TASK_STATUS_RUNNING and seen[-1].status == pb.TASK_STATUS_SUCCEEDED
    assert pb.IMPORT_PHASE_DOWNLOADING in phases and phases[-1] == pb.IMPORT_PHASE_FINISHED
    assert phases == sorted(phases)  # in order, never backwards
    assert all(a != b for a, b in itertools.pairwise(seen))  # only changes are sent
    peek = gateway.stub.WatchTask(pb.WatchTaskRequest(task_id=task_id), metadata=auth(KEY_B))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await peek.read()
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_stops_the_task_and_leaves_a_manifest(gateway: Gateway) -> None:
    gateway.imports.gate = asyncio.Event()  # downloads never finish on their own
    started = await gateway.stub.StartTask(import_request(fresh_company()), metadata=auth())
    task_id = started.task.task_id
    await wait_for(
        gateway, task_id, lambda t: t.invoice_import.phase == pb.IMPORT_PHASE_DOWNLOADING
    )
    other = gateway.stub.CancelTask(pb.CancelTaskRequest(task_id=task_id), metadata=auth(KEY_B))
    assert await rpc_code(other) == grpc.StatusCode.NOT_FOUND

    reply = await gateway.stub.CancelTask(pb.CancelTaskRequest(task_id=task_id), metadata=auth())
    cancelled = await wait_for(gateway, task_id, finished)

    assert reply.task.status in (pb.TASK_STATUS_RUNNING, pb.TASK_STATUS_CANCELLED)
    assert cancelled.status == pb.TASK_STATUS_CANCELLED and cancelled.HasField("close_time")
    details = cancelled.invoice_import
    assert details.phase == pb.IMPORT_PHASE_CANCELLED
    assert details.manifest_object  # the manifest of what was done (nothing stored)
    [manifest] = [m for m in gateway.imports.manifests if m.import_id == task_id]
    assert [p.counts.stored for p in manifest.periods] == [0, 0]
    again = await gateway.stub.CancelTask(pb.CancelTaskRequest(task_id=task_id), metadata=auth())
    assert again.task.status == pb.TASK_STATUS_CANCELLED  # a no-op


async def test_a_finished_task_cannot_be_cancelled(gateway: Gateway) -> None:
    started = await gateway.stub.StartTask(import_request(fresh_company()), metadata=auth())
    await wait_for(gateway, started.task.task_id, finished)
    call = gateway.stub.CancelTask(
        pb.CancelTaskRequest(task_id=started.task.task_id), metadata=auth()
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "already finished (TASK_STATUS_SUCCEEDED)" in (raised.value.details() or "")


async def test_a_rate_limited_step_shows_as_the_tasks_backoff(gateway: Gateway) -> None:
    gateway.imports.rate_limit_for = timedelta(minutes=5)
    started = await gateway.stub.StartTask(import_request(fresh_company()), metadata=auth())

    waiting = await wait_for(gateway, started.task.task_id, lambda t: t.HasField("backoff"))

    backoff = waiting.backoff
    assert (backoff.step, backoff.attempt) == ("fetch_invoice_batch", 2)
    assert backoff.reason == "connector FetchInvoices: RESOURCE_EXHAUSTED: portal budget exhausted"
    wait = backoff.retry_time.ToDatetime(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)
    assert timedelta(minutes=4) < wait <= timedelta(minutes=5)
    assert waiting.status == pb.TASK_STATUS_RUNNING


async def test_a_resync_imports_the_recent_months_up_to_today(gateway: Gateway) -> None:
    company = fresh_company()
    spec = pb.RecentMonthsResyncSpec(
        company_tax_code=company, credentials=pb.PortalCredentials(password="pw"), months=2
    )
    started = await gateway.stub.StartTask(
        pb.StartTaskRequest(recent_months_resync=spec), metadata=auth()
    )
    today = vietnam_today()
    task_id = started.task.task_id
    assert task_id == f"tenant-a:recent-months-resync:{company}:2m:purchases:{today:%Y%m%d}"

    done = await wait_for(gateway, task_id, finished)

    assert done.status == pb.TASK_STATUS_SUCCEEDED
    details = done.recent_months_resync
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    progress = details.progress
    assert (progress.start_date.year, progress.start_date.month, progress.start_date.day) == (
        first.year,
        first.month,
        1,
    )
    assert (progress.end_date.month, progress.end_date.day) == (today.month, today.day)
    assert [f.flow for f in progress.flows] == [
        Flow.FLOW_PURCHASE_ELECTRONIC,
        Flow.FLOW_PURCHASE_CASH_REGISTER,
    ]
    assert details.months == 2 and details.new_invoices == 12  # 2 flows x 2 months x 3


async def test_a_resync_of_too_many_months_is_refused(gateway: Gateway) -> None:
    spec = pb.RecentMonthsResyncSpec(
        company_tax_code=fresh_company(), credentials=pb.PortalCredentials(), months=13
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.StartTask(
            pb.StartTaskRequest(recent_months_resync=spec), metadata=auth()
        )
    assert _violations(_status(raised.value)) == [
        "recent_months_resync.credentials.password",
        "recent_months_resync.months",
    ]


def _status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    return status


def _violations(status: status_pb2.Status) -> list[str]:
    fields = []
    for holder in status.details:
        if holder.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            holder.Unpack(bad)
            fields += [violation.field for violation in bad.field_violations]
    return sorted(fields)
