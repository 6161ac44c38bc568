"""TaskService end to end in-process: authentication, validation with field violations,
idempotent StartTask, GetTask progress and result, tenancy, a failed import's reason."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from gateway_support import (
    DEFAULT_BUCKET,
    KEY_A,
    KEY_B,
    Gateway,
    auth,
    day,
    fresh_company,
    import_request,
    rpc_code,
    wait_for,
)
from google.rpc import error_details_pb2
from google.type import date_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.runtime.errors import error_details
from tests.support.imports import WRONG_PASSWORD


async def test_health_needs_no_key(gateway: Gateway) -> None:
    reply = await health_pb2_grpc.HealthStub(gateway.channel).Check(
        health_pb2.HealthCheckRequest(service="gdtmesh.gateway.v1.TaskService"), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer not-a-known-key-at-all"),),
        (("authorization", f"Basic {KEY_A}"),),
        (("x-api-key", "not-a-known-key-at-all"),),
    ],
    ids=["none", "unknown-bearer", "wrong-scheme", "unknown-x-api-key"],
)
async def test_calls_without_a_known_key_are_unauthenticated(
    gateway: Gateway, metadata: tuple[tuple[str, str], ...]
) -> None:
    start = gateway.stub.StartTask(import_request(fresh_company()), metadata=metadata)
    get = gateway.stub.GetTask(pb.GetTaskRequest(task_id="tenant-a:x:y"), metadata=metadata)
    assert await rpc_code(start) == grpc.StatusCode.UNAUTHENTICATED
    assert await rpc_code(get) == grpc.StatusCode.UNAUTHENTICATED


async def test_an_x_api_key_header_is_accepted(gateway: Gateway) -> None:
    reply = await gateway.stub.StartTask(
        import_request(fresh_company()), metadata=(("x-api-key", KEY_A),)
    )
    assert reply.task.task_id.startswith("tenant-a:invoice-import:")


async def test_bad_requests_name_every_bad_field(gateway: Gateway) -> None:
    spec = pb.InvoiceImportSpec(
        company_tax_code="0101234567",  # wrong check digit
        start_date=day(2025, 2, 30),
        end_date=day(2025, 1, 1),
        flows=[Flow.FLOW_SOLD_ELECTRONIC, 9],  # type: ignore[list-item]
        bucket="Not_A_Bucket!",
        max_concurrent_invoices=500,
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.StartTask(pb.StartTaskRequest(invoice_import=spec), metadata=auth())

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [violations] = [
        d for d in error_details(raised.value) if isinstance(d, error_details_pb2.BadRequest)
    ]
    fields = {v.field: v.description for v in violations.field_violations}
    assert sorted(fields) == [
        "invoice_import.bucket",
        "invoice_import.company_tax_code",
        "invoice_import.credentials.password",
        "invoice_import.flows[1]",
        "invoice_import.max_concurrent_invoices",
        "invoice_import.start_date",
    ]
    assert "calendar date" in fields["invoice_import.start_date"]


@pytest.mark.parametrize(
    ("start", "end", "field", "why"),
    [
        (day(2025, 3, 1), day(2025, 2, 1), "end_date", "must not be before start_date"),
        (day(2023, 1, 1), day(2025, 1, 1), "end_date", "spans 25 months; at most 24"),
        (day(2999, 1, 1), day(2999, 1, 2), "start_date", "in the future"),
    ],
)
async def test_an_absurd_range_is_refused(
    gateway: Gateway, start: date_pb2.Date, end: date_pb2.Date, field: str, why: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.StartTask(
            import_request(fresh_company(), start=start, end=end), metadata=auth()
        )
    [violations] = [
        d for d in error_details(raised.value) if isinstance(d, error_details_pb2.BadRequest)
    ]
    assert [(v.field, why in v.description) for v in violations.field_violations] == [
        (f"invoice_import.{field}", True)
    ]


async def test_a_request_without_a_task_kind_is_refused(gateway: Gateway) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await gateway.stub.StartTask(pb.StartTaskRequest(request_id="r1"), metadata=auth())
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "task: set exactly one task kind (invoice_import, recent_months_resync)" in (
        raised.value.details() or ""
    )


async def test_the_same_import_requested_twice_at_once_is_one_task(gateway: Gateway) -> None:
    company = fresh_company()
    first, second = await asyncio.gather(
        *(
            gateway.stub.StartTask(import_request(company, flows=flows), metadata=auth())
            for flows in ([Flow.FLOW_SOLD_ELECTRONIC], [Flow.FLOW_SOLD_ELECTRONIC] * 2)
        )
    )

    assert (
        first.task.task_id
        == second.task.task_id
        == (f"tenant-a:invoice-import:{company}:20250115-20250228:ban_ra_dien_tu")
    )
    assert sorted([first.already_exists, second.already_exists]) == [False, True]
    done = await wait_for(gateway, first.task.task_id, lambda t: t.status != pb.TASK_STATUS_RUNNING)
    assert done.status == pb.TASK_STATUS_SUCCEEDED

    again = await gateway.stub.StartTask(import_request(company), metadata=auth())
    assert again.already_exists and again.task.status == pb.TASK_STATUS_SUCCEEDED
    assert len(gateway.imports.passwords) == 1  # one import ran


async def test_get_task_follows_progress_then_gives_the_result(gateway: Gateway) -> None:
    gateway.imports.gate = asyncio.Event()
    company = fresh_company()
    started = await gateway.stub.StartTask(
        import_request(company, flows=[]),
        metadata=auth(),  # empty: all four flows
    )
    assert started.task.task_id.endswith(":20250115-20250228:all") and not started.already_exists
    assert started.task.status == pb.TASK_STATUS_RUNNING
    details = started.task.invoice_import
    assert details.phase == pb.IMPORT_PHASE_OPENING_SESSION and details.bucket == DEFAULT_BUCKET
    assert (details.company_tax_code, details.start_date, details.end_date) == (
        company,
        day(2025, 1, 15),
        day(2025, 2, 28),
    )

    task_id = started.task.task_id
    running = await wait_for(
        gateway, task_id, lambda t: t.invoice_import.phase == pb.IMPORT_PHASE_DOWNLOADING
    )
    assert running.status == pb.TASK_STATUS_RUNNING and not running.HasField("close_time")
    assert [f.flow for f in running.invoice_import.flows] == [1, 2, 3, 4]
    for flow in running.invoice_import.flows:
        assert [(m.month.month, m.counts.discovered) for m in flow.months] == [(1, 3), (2, 3)]
        assert (flow.totals.discovered, flow.totals.stored) == (6, 0)

    gateway.imports.gate.set()
    done = await wait_for(gateway, task_id, lambda t: t.status == pb.TASK_STATUS_SUCCEEDED)
    result = done.invoice_import
    assert result.phase == pb.IMPORT_PHASE_FINISHED and done.HasField("close_time")
    assert [(f.totals.portal_total, f.totals.stored) for f in result.flows] == [(6, 6)] * 4
    assert result.manifest_object == f"gdt_invoices/{company}/manifests/import.json"
    assert gateway.imports.manifests[0].bucket == DEFAULT_BUCKET
    assert gateway.imports.manifests[0].import_id == task_id


async def test_another_tenants_task_is_not_found(gateway: Gateway) -> None:
    company = fresh_company()
    mine = await gateway.stub.StartTask(import_request(company), metadata=auth(KEY_A))
    theirs = await gateway.stub.StartTask(import_request(company), metadata=auth(KEY_B))

    assert mine.task.task_id.startswith("tenant-a:") and theirs.task.task_id.startswith("tenant-b:")
    assert not theirs.already_exists  # tenants never share tasks
    peek = gateway.stub.GetTask(pb.GetTaskRequest(task_id=mine.task.task_id), metadata=auth(KEY_B))
    assert await rpc_code(peek) == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("task_id", "code"),
    [
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        ("no-such-thing", grpc.StatusCode.NOT_FOUND),
        ("tenant-a:invoice-import:0101234560:20250101-20250131:all", grpc.StatusCode.NOT_FOUND),
        ("tenant-a:unknown-kind:x", grpc.StatusCode.NOT_FOUND),
    ],
)
async def test_unknown_task_ids(gateway: Gateway, task_id: str, code: grpc.StatusCode) -> None:
    call = gateway.stub.GetTask(pb.GetTaskRequest(task_id=task_id), metadata=auth())
    assert await rpc_code(call) == code


async def test_a_failed_import_says_why_and_can_be_started_again(gateway: Gateway) -> None:
    request = import_request(fresh_company(), password=WRONG_PASSWORD)
    started = await gateway.stub.StartTask(request, metadata=auth())

    failed = await wait_for(
        gateway, started.task.task_id, lambda t: t.status != pb.TASK_STATUS_RUNNING
    )

    assert failed.status == pb.TASK_STATUS_FAILED
    assert failed.failure_message == (
        "opening a portal session failed: "
        "connector OpenSession: UNAUTHENTICATED: wrong username or password"
    )
    assert WRONG_PASSWORD not in str(failed)
    assert failed.invoice_import.phase == pb.IMPORT_PHASE_OPENING_SESSION
    again = await gateway.stub.StartTask(request, metadata=auth())
    assert again.task.task_id == started.task.task_id and not again.already_exists
