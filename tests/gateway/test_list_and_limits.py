"""ListTasks over Temporal visibility (tenancy, filters, pages, validation) and load shedding
(RESOURCE_EXHAUSTED with a retry delay past the configured number of calls in progress)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
import pytest
from gateway_support import KEY_B, Gateway, auth, day, fresh_company, import_request, wait_for
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.service import RPCError

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.runtime.errors import error_details
from gdtmesh.runtime.grpc_server import GrpcService, start_grpc_service
from programs.mesh import servers
from services.gateway import visibility
from services.gateway.load_shedding import LoadSheddingInterceptor
from tests.support.imports import WRONG_PASSWORD, make_ref


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def listed(
    gateway: Gateway, request: pb.ListTasksRequest, key: str | None = None
) -> list[pb.Task]:
    """Every task of every page."""
    tasks: list[pb.Task] = []
    while True:
        reply = await gateway.stub.ListTasks(request, metadata=auth(key) if key else auth())
        tasks += reply.tasks
        if not reply.next_page_token:
            return tasks
        request.page_token = reply.next_page_token


async def eventually(
    gateway: Gateway, request: pb.ListTasksRequest, count: int, key: str | None = None
) -> list[pb.Task]:
    """The list once visibility caught up with `count` tasks (it trails starts a little)."""
    for _ in range(100):
        page = pb.ListTasksRequest()
        page.CopyFrom(request)
        tasks = await listed(gateway, page, key)
        if len(tasks) >= count:
            return tasks
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} tasks, listed {len(tasks)}")


async def test_list_shows_the_callers_tasks_only_filtered_and_paged(gateway: Gateway) -> None:
    since = timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=10))
    companies = [fresh_company() for _ in range(3)]
    mine = [
        (await gateway.stub.StartTask(import_request(company), metadata=auth())).task.task_id
        for company in companies
    ]
    resync = pb.RecentMonthsResyncSpec(
        company_tax_code=companies[0], credentials=pb.PortalCredentials(password="pw")
    )
    started = await gateway.stub.StartTask(
        pb.StartTaskRequest(recent_months_resync=resync), metadata=auth()
    )
    mine.append(started.task.task_id)
    theirs = await gateway.stub.StartTask(import_request(companies[0]), metadata=auth(KEY_B))
    for task_id in mine:
        await wait_for(gateway, task_id, lambda t: t.status == pb.TASK_STATUS_SUCCEEDED)

    everything = await eventually(gateway, pb.ListTasksRequest(created_after=since), 4)
    assert sorted(t.task_id for t in everything) == sorted(mine)  # never another tenant's
    assert theirs.task.task_id not in {t.task_id for t in everything}
    last_finished_first = [t.close_time.ToDatetime() for t in everything]
    assert last_finished_first == sorted(last_finished_first, reverse=True)
    imports = [t for t in everything if t.WhichOneof("details") == "invoice_import"]
    assert {t.invoice_import.company_tax_code for t in imports} == set(companies)

    pages = []
    request = pb.ListTasksRequest(created_after=since, page_size=3)
    while True:
        reply = await gateway.stub.ListTasks(request, metadata=auth())
        pages.append([t.task_id for t in reply.tasks])
        if not reply.next_page_token:
            break
        request.page_token = reply.next_page_token
    assert [len(page) for page in pages] == [3, 1]
    assert sorted(task_id for page in pages for task_id in page) == sorted(mine)

    by_company = await listed(
        gateway, pb.ListTasksRequest(created_after=since, company_tax_code=companies[0])
    )
    assert sorted(t.task_id for t in by_company) == sorted([mine[0], mine[3]])
    by_kind = await listed(
        gateway, pb.ListTasksRequest(created_after=since, kind="recent_months_resync")
    )
    assert [t.task_id for t in by_kind] == [mine[3]]
    assert by_kind[0].recent_months_resync.progress.company_tax_code == companies[0]
    running = await listed(
        gateway, pb.ListTasksRequest(created_after=since, statuses=[pb.TASK_STATUS_RUNNING])
    )
    assert running == []
    done = await listed(
        gateway,
        pb.ListTasksRequest(
            created_after=since, statuses=[pb.TASK_STATUS_SUCCEEDED, pb.TASK_STATUS_FAILED]
        ),
    )
    assert len(done) == 4
    later = timestamp(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert await listed(gateway, pb.ListTasksRequest(created_after=later)) == []
    before = await listed(gateway, pb.ListTasksRequest(created_after=since, created_before=later))
    assert len(before) == 4
    theirs_listed = await eventually(
        gateway, pb.ListTasksRequest(created_after=since), 1, key=KEY_B
    )
    assert [t.task_id for t in theirs_listed] == [theirs.task.task_id]


async def test_a_page_token_only_continues_its_own_query(gateway: Gateway) -> None:
    since = timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=10))
    for _ in range(2):
        await gateway.stub.StartTask(import_request(fresh_company()), metadata=auth())
    await eventually(gateway, pb.ListTasksRequest(created_after=since), 2)
    first = await gateway.stub.ListTasks(
        pb.ListTasksRequest(created_after=since, page_size=1), metadata=auth()
    )
    assert first.next_page_token

    for request in (
        pb.ListTasksRequest(page_size=1, page_token=first.next_page_token),  # other filters
        pb.ListTasksRequest(created_after=since, page_size=1, page_token="bm90LWEtdG9rZW4="),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await gateway.stub.ListTasks(request, metadata=auth())
        assert _fields(raised.value) == ["page_token"]
    other_tenant = gateway.stub.ListTasks(
        pb.ListTasksRequest(created_after=since, page_size=1, page_token=first.next_page_token),
        metadata=auth(KEY_B),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await other_tenant  # a token is bound to its tenant's query too
    assert _fields(raised.value) == ["page_token"]


async def test_list_entries_say_why_a_task_failed_or_what_failed_in_it(gateway: Gateway) -> None:
    since = timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=10))
    for number in (1, 2):  # two of March's three invoices cannot be stored
        gateway.imports.failing[make_ref(dt.date(2025, 3, 1), number)] = "portal error 500"
    requests = {
        "refused": import_request(fresh_company(), password=WRONG_PASSWORD),
        "partly": import_request(fresh_company(), start=day(2025, 3, 1), end=day(2025, 3, 31)),
        "clean": import_request(fresh_company()),
    }
    ids = {}
    for name, request in requests.items():
        ids[name] = (await gateway.stub.StartTask(request, metadata=auth())).task.task_id
        await wait_for(gateway, ids[name], lambda t: t.HasField("close_time"))

    by_id = {
        t.task_id: t for t in await eventually(gateway, pb.ListTasksRequest(created_after=since), 3)
    }

    refused, partly, clean = (by_id[ids[name]] for name in ("refused", "partly", "clean"))
    assert refused.status == pb.TASK_STATUS_FAILED
    assert "wrong username or password" in refused.failure_reason
    assert refused.failure_message == refused.failure_reason
    assert partly.status == pb.TASK_STATUS_SUCCEEDED
    assert partly.failure_reason == "2 invoices failed"
    assert clean.status == pb.TASK_STATUS_SUCCEEDED and clean.failure_reason == ""
    got = await gateway.stub.GetTask(pb.GetTaskRequest(task_id=ids["partly"]), metadata=auth())
    assert got.task.failure_reason == "2 invoices failed"


async def test_bad_list_requests_name_every_bad_field(gateway: Gateway) -> None:
    now = dt.datetime.now(dt.UTC)
    request = pb.ListTasksRequest(
        page_size=500,
        statuses=[pb.TASK_STATUS_RUNNING, 42],  # type: ignore[list-item]
        company_tax_code="12345",
        kind="coffee_break",
        created_after=timestamp(now),
        created_before=timestamp(now - dt.timedelta(days=1)),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.ListTasks(request, metadata=auth())

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _fields(raised.value) == [
        "company_tax_code",
        "created_before",
        "kind",
        "page_size",
        "statuses[1]",
    ]


def _fields(error: grpc.aio.AioRpcError) -> list[str]:
    [bad] = [d for d in error_details(error) if isinstance(d, error_details_pb2.BadRequest)]
    return sorted(v.field for v in bad.field_violations)


# -- load shedding ---------------------------------------------------------------------------

SLOW = "/test.Slow/Call"
SLOW_STREAM = "/test.Slow/Stream"


async def _server_with_limits(
    release: asyncio.Event, max_unary: int, max_streams: int
) -> tuple[GrpcService, LoadSheddingInterceptor]:
    """A server whose calls wait for `release`, behind the gateway's load shedding."""

    async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await release.wait()
        return request

    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        yield request
        await release.wait()

    handlers = {
        "Call": grpc.unary_unary_rpc_method_handler(call),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    }

    def register(server: grpc.aio.Server) -> Sequence[str]:
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("test.Slow", handlers)]
        )
        return []

    shedding = LoadSheddingInterceptor(max_unary, max_streams)
    service = await start_grpc_service("127.0.0.1:0", register, extra_interceptors=[shedding])
    return service, shedding


def shed_counted(budget: str) -> float:
    """gdtmesh_gateway_shed_total{budget}, what an operator's alert reads."""
    value = REGISTRY.get_sample_value("gdtmesh_gateway_shed_total", {"budget": budget})
    return value or 0.0


async def test_calls_past_the_limit_are_shed_at_once_with_a_retry_delay() -> None:
    release = asyncio.Event()
    service, shedding = await _server_with_limits(release, max_unary=2, max_streams=1)
    before = {budget: shed_counted(budget) for budget in ("unary", "stream")}
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    unary: Callable[..., grpc.aio.UnaryUnaryCall] = channel.unary_unary(SLOW)
    try:
        held = [asyncio.ensure_future(unary(b"x", timeout=10)) for _ in range(2)]
        watching = channel.unary_stream(SLOW_STREAM)(b"w", timeout=10)
        assert await watching.read() == b"w"  # the one stream slot is taken
        await asyncio.sleep(0.2)  # both unary calls are in progress

        began = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await unary(b"y", timeout=10)
        refused_in = time.monotonic() - began
        with pytest.raises(grpc.aio.AioRpcError) as stream_refused:
            await channel.unary_stream(SLOW_STREAM)(b"v", timeout=10).read()
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )

        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused_in < 0.5
        [retry] = [
            d for d in error_details(raised.value) if isinstance(d, error_details_pb2.RetryInfo)
        ]
        assert retry.retry_delay.seconds == 1
        assert stream_refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert health.status == health_pb2.HealthCheckResponse.SERVING  # never shed
        assert shedding.shed == 2
        assert [shed_counted(b) - before[b] for b in ("unary", "stream")] == [1, 1]

        release.set()
        assert await asyncio.gather(*held) == [b"x", b"x"]
        assert await unary(b"z", timeout=10) == b"z"  # slots come back
    finally:
        release.set()
        await channel.close()
        await service.stop(0)


async def test_the_gateway_registers_missing_search_attributes() -> None:
    bare = servers.start_temporal()  # a server that knows none of them
    try:
        client = await Client.connect(bare.address)
        since = "2025-01-01T00:00:00Z"
        query = f"{visibility.TENANT.name} = 'x' AND {visibility.CREATE_TIME.name} >= '{since}'"
        with pytest.raises(RPCError):
            await client.list_workflows(query).fetch_next_page()

        await visibility.ensure_registered(client)
        await visibility.ensure_registered(client)  # a second time changes nothing

        page = client.list_workflows(query)
        await page.fetch_next_page()
        assert page.current_page == []
    finally:
        bare.stop()
