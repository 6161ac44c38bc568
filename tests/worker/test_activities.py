"""The activities against fake service stubs (`ActivityEnvironment`): requests and deadlines,
the one gRPC status -> retry mapping, and a download batch that resumes from its heartbeat."""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import timedelta
from typing import Any

import grpc
import pytest
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.import_contract import FailedInvoice, PeriodCounts
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.reasons import SESSION_EXPIRED
from gdtmesh.runtime.errors import ServiceError, error_info, retry_later, status_from_error
from gdtmesh.storage.v1 import storage_pb2
from tests.support.imports import make_ref, month_of_refs
from tests.support.services import (
    ConnectorStub,
    StorageStub,
    downloaded,
    failed,
    rate_limited,
    rpc_error,
)
from workers.imports.activities import (
    MAX_FAILED_ATTEMPTS,
    MAX_FAILED_LOGINS,
    MAX_STRIKES,
    ImportActivities,
    RpcTimeouts,
)
from workers.imports.attempts import AttemptLog
from workers.imports.errors import NON_RETRYABLE, call_failure
from workers.imports.models import (
    OUTCOME_ALREADY_STORED,
    OUTCOME_FAILED,
    OUTCOME_STORED,
    FetchBatchInput,
    InvoiceOutcome,
    ListInvoicesInput,
    ManifestInput,
    ManifestPeriod,
    OpenSessionInput,
)
from workers.imports.refs import unpack

SOLD = int(Flow.FLOW_SOLD_ELECTRONIC)
PASSWORD = "Hunter2-secret"


class Env:
    """An ActivityEnvironment that keeps every heartbeat."""

    def __init__(self, heartbeat: Any = None, *, attempt: int = 1) -> None:
        self.env = ActivityEnvironment()
        self.beats: list[Any] = []
        self.env.on_heartbeat = lambda *details: self.beats.append(details[0])
        self.env.info = dataclasses.replace(self.env.info, attempt=attempt)
        if heartbeat is not None:  # what the server hands a retry: JSON, not our dataclass
            converter = DataConverter.default.payload_converter
            [raw] = converter.from_payloads(converter.to_payloads([heartbeat]))
            self.env.info = dataclasses.replace(self.env.info, heartbeat_details=[raw])

    async def run(self, fn: Any, arg: Any) -> Any:
        return await self.env.run(fn, arg)


def refs(count: int, *, first: int = 1) -> list[str]:
    return month_of_refs(2025, 3, count, first_number=first)


def refused(ref: str, error: ServiceError) -> gdt_connector_pb2.FetchInvoicesResponse:
    return gdt_connector_pb2.FetchInvoicesResponse(
        invoice=unpack(ref), error=status_from_error(error)
    )


def batch(invoices: list[str]) -> FetchBatchInput:
    return FetchBatchInput("s-1", "0101234560", "bucket-a", SOLD, invoices)


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_every_status_code_maps_to_one_retry_decision(code: grpc.StatusCode) -> None:
    error = call_failure("svc Call", code, "why", timedelta(seconds=7))
    assert error.type == code.name and error.message == f"svc Call: {code.name}: why"
    expected_non_retryable = code.name in {
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "FAILED_PRECONDITION",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "UNIMPLEMENTED",
    }
    assert error.non_retryable is expected_non_retryable is (code in NON_RETRYABLE)
    assert error.next_retry_delay == (None if expected_non_retryable else timedelta(seconds=7))


async def test_open_session_sends_the_credentials_with_a_deadline() -> None:
    connector = ConnectorStub()
    activities = ImportActivities(connector, StorageStub(), RpcTimeouts(open_session=12.0))  # type: ignore[arg-type]

    session = await Env().run(activities.open_session, OpenSessionInput("0101234560", PASSWORD))

    assert session == "session-1"
    assert connector.requests == [
        gdt_connector_pb2.OpenSessionRequest(username="0101234560", password=PASSWORD)
    ]
    assert connector.timeouts == [12.0]


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
)
async def test_a_refused_login_is_final_and_never_shows_the_password(code: grpc.StatusCode) -> None:
    connector = ConnectorStub(login_error=failed(code, f"login refused for password {PASSWORD}"))
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]

    with pytest.raises(ApplicationError) as raised:
        await Env().run(activities.open_session, OpenSessionInput("0101234560", PASSWORD))

    assert raised.value.non_retryable and raised.value.type == code.name
    assert (
        raised.value.message
        == f"connector OpenSession: {code.name}: login refused for password ***"
    )
    assert raised.value.__cause__ is None and raised.value.__context__ is not None  # not chained


async def test_a_rate_limited_login_retries_after_the_servers_delay() -> None:
    connector = ConnectorStub(login_error=rate_limited(42))
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]

    with pytest.raises(ApplicationError) as raised:
        await Env().run(activities.open_session, OpenSessionInput("0101234560", PASSWORD))

    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=42)


async def test_listing_keeps_distinct_invoices_inside_the_window() -> None:
    month = [make_ref(dt.date(2025, 3, day), day) for day in (1, 9, 10, 20, 31)]
    connector = ConnectorStub(
        pages=[
            gdt_connector_pb2.ListInvoicesResponse(
                invoices=[unpack(r) for r in month[:3]], portal_total=5
            ),
            gdt_connector_pb2.ListInvoicesResponse(
                invoices=[unpack(r) for r in month[2:]], portal_total=5
            ),
        ]
    )
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    env = Env()

    result = await env.run(
        activities.list_invoices,
        ListInvoicesInput("s-1", SOLD, 2025, 3, "2025-03-10", "2025-03-31"),
    )

    assert result.invoices == month[2:]  # 10, 20 and 31 March; the repeated 10th once
    assert (result.portal_total, result.listed) == (5, 5)
    assert connector.requests[0].month.year == 2025 and connector.requests[0].month.month == 3
    assert env.beats == [AttemptLog(), AttemptLog()] and connector.streams[0].cancelled


async def test_a_listing_cut_short_by_the_portal_is_retried() -> None:
    connector = ConnectorStub(
        pages=[
            gdt_connector_pb2.ListInvoicesResponse(invoices=[unpack(refs(1)[0])], portal_total=9),
            failed(grpc.StatusCode.UNAVAILABLE, "portal firewall page"),
        ]
    )
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]

    with pytest.raises(ApplicationError) as raised:
        await Env().run(
            activities.list_invoices,
            ListInvoicesInput("s-1", SOLD, 2025, 3, "2025-03-01", "2025-03-31"),
        )

    assert not raised.value.non_retryable and raised.value.type == "UNAVAILABLE"
    assert raised.value.message == "connector ListInvoices: UNAVAILABLE: portal firewall page"


async def test_a_batch_streams_each_invoice_into_storage() -> None:
    invoices = refs(3)
    connector = ConnectorStub(
        fetches=[
            [downloaded(invoices[0]), downloaded(invoices[1], xml=b""), downloaded(invoices[2])]
        ]
    )
    storage = StorageStub()
    activities = ImportActivities(connector, storage, RpcTimeouts(write_invoice=3.0))  # type: ignore[arg-type]

    result = await Env().run(activities.fetch_invoice_batch, batch(invoices))

    assert result.outcomes == [
        InvoiceOutcome(OUTCOME_STORED),
        InvoiceOutcome(OUTCOME_STORED, without_original=True),
        InvoiceOutcome(OUTCOME_STORED),
    ]
    assert [unpack(r) for r in invoices] == list(connector.requests[0].invoices)
    assert [w.invoice for w in storage.writes] == [unpack(r) for r in invoices]
    assert (
        storage.writes[0].bucket == "bucket-a"
        and storage.writes[0].detail_json == b'{"nbmst": "0101234560", "shdon": 1}'
    )
    assert storage.writes[1].original_xml == b"" and storage.writes[2].original_xml == b"<HDon/>"
    assert storage.timeouts == [3.0, 3.0, 3.0]


async def test_identical_copies_already_in_the_bucket_count_as_already_stored() -> None:
    invoices = refs(2)
    connector = ConnectorStub(fetches=[[downloaded(r) for r in invoices]])
    storage = StorageStub(outcome=storage_pb2.WRITE_OUTCOME_ALREADY_STORED)
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]

    result = await Env().run(activities.fetch_invoice_batch, batch(invoices))

    assert [o.code for o in result.outcomes] == [OUTCOME_ALREADY_STORED] * 2


async def test_an_invoice_the_portal_refuses_is_recorded_as_failed() -> None:
    invoices = refs(2)
    gone = ServiceError(grpc.StatusCode.NOT_FOUND, "no such invoice")
    connector = ConnectorStub(fetches=[[refused(invoices[0], gone), downloaded(invoices[1])]])
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]

    result = await Env().run(activities.fetch_invoice_batch, batch(invoices))

    assert result.outcomes == [
        InvoiceOutcome(
            OUTCOME_FAILED, reason="connector FetchInvoices: NOT_FOUND: no such invoice"
        ),
        InvoiceOutcome(OUTCOME_STORED),
    ]


async def test_a_rate_limited_batch_resumes_without_redoing_what_it_stored() -> None:
    invoices = refs(4)
    limited = retry_later(timedelta(seconds=9), "portal budget exhausted")
    connector = ConnectorStub(
        fetches=[
            [downloaded(invoices[0]), refused(invoices[1], limited), downloaded(invoices[2])],
            [downloaded(invoices[1]), downloaded(invoices[3])],
        ]
    )
    storage = StorageStub()
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    first = Env()

    with pytest.raises(ApplicationError) as raised:  # the stream also ended one invoice early
        await first.run(activities.fetch_invoice_batch, batch(invoices))
    assert raised.value.type == "INCOMPLETE" and not raised.value.non_retryable

    retry = Env(heartbeat=first.beats[-1])
    result = await retry.run(activities.fetch_invoice_batch, batch(invoices))

    assert list(connector.requests[1].invoices) == [unpack(invoices[1]), unpack(invoices[3])]
    assert [w.invoice.key.number for w in storage.writes] == [1, 3, 2, 4]  # each exactly once
    assert [o.code for o in result.outcomes] == [OUTCOME_STORED] * 4


async def test_a_rate_limit_asks_for_the_servers_delay() -> None:
    invoices = refs(2)
    limited = retry_later(timedelta(seconds=9), "portal budget exhausted")
    connector = ConnectorStub(fetches=[[downloaded(invoices[0]), refused(invoices[1], limited)]])
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    env = Env()

    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.fetch_invoice_batch, batch(invoices))

    assert raised.value.type == "RESOURCE_EXHAUSTED"
    assert raised.value.next_retry_delay == timedelta(seconds=9)
    assert env.beats[-1].outcomes == [InvoiceOutcome(OUTCOME_STORED), None]
    assert env.beats[-1].strikes == [0, 0]  # waiting for the budget is not the invoice's fault


async def test_a_stream_cut_by_the_connector_is_retried_from_the_heartbeat() -> None:
    invoices = refs(3)
    connector = ConnectorStub(
        fetches=[
            [downloaded(invoices[0]), rate_limited(5)],
            [downloaded(invoices[1]), downloaded(invoices[2])],
        ]
    )
    storage = StorageStub()
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    first = Env()

    with pytest.raises(ApplicationError) as raised:
        await first.run(activities.fetch_invoice_batch, batch(invoices))
    assert raised.value.next_retry_delay == timedelta(seconds=5)
    assert connector.streams[0].cancelled

    await Env(heartbeat=first.beats[-1]).run(activities.fetch_invoice_batch, batch(invoices))
    assert [w.invoice.key.number for w in storage.writes] == [1, 2, 3]


async def test_a_malformed_invoice_gets_a_few_attempts_then_is_recorded_as_failed() -> None:
    invoices = refs(2)
    broken = ServiceError(grpc.StatusCode.DATA_LOSS, "detail JSON is truncated")
    connector = ConnectorStub(
        fetches=[
            [refused(invoices[0], broken), downloaded(invoices[1])],
            *([[refused(invoices[0], broken)]] * (MAX_STRIKES - 1)),
        ]
    )
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    heartbeat = None
    for _ in range(MAX_STRIKES - 1):
        env = Env(heartbeat)
        with pytest.raises(ApplicationError):
            await env.run(activities.fetch_invoice_batch, batch(invoices))
        heartbeat = env.beats[-1]

    result = await Env(heartbeat).run(activities.fetch_invoice_batch, batch(invoices))

    assert result.outcomes[0] == InvoiceOutcome(
        OUTCOME_FAILED,
        reason=f"connector FetchInvoices: DATA_LOSS: detail JSON is truncated "
        f"(after {MAX_STRIKES} attempts)",
    )
    assert result.outcomes[1].code == OUTCOME_STORED
    assert len(connector.requests) == MAX_STRIKES


async def test_waiting_for_the_portal_budget_never_uses_up_a_batchs_attempts() -> None:
    invoices = refs(2)
    limited = retry_later(timedelta(seconds=9), "portal budget exhausted")
    waits = MAX_FAILED_ATTEMPTS + 20
    connector = ConnectorStub(
        fetches=[
            *([[refused(invoices[0], limited), refused(invoices[1], limited)]] * waits),
            [downloaded(invoices[0]), downloaded(invoices[1])],
        ]
    )
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    heartbeat = None
    for attempt in range(1, waits + 1):
        env = Env(heartbeat, attempt=attempt)
        with pytest.raises(ApplicationError) as raised:
            await env.run(activities.fetch_invoice_batch, batch(invoices))
        assert raised.value.type == "RESOURCE_EXHAUSTED"
        heartbeat = env.beats[-1]

    result = await Env(heartbeat, attempt=waits + 1).run(
        activities.fetch_invoice_batch, batch(invoices)
    )

    assert [o.code for o in result.outcomes] == [OUTCOME_STORED] * 2


async def test_a_batch_whose_attempts_keep_failing_gives_its_pending_invoices_up() -> None:
    invoices = refs(3)
    connector = ConnectorStub(
        fetches=[[downloaded(invoices[0]), failed(grpc.StatusCode.UNAVAILABLE, "portal down")]]
    )
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    first = Env()
    with pytest.raises(ApplicationError):
        await first.run(activities.fetch_invoice_batch, batch(invoices))

    # Every later attempt failed too, some without a word (a lost worker, a timeout).
    last = Env(first.beats[-1], attempt=MAX_FAILED_ATTEMPTS + 1)
    result = await last.run(activities.fetch_invoice_batch, batch(invoices))

    why = (
        f"download gave up after {MAX_FAILED_ATTEMPTS} failed attempts: "
        "connector FetchInvoices: UNAVAILABLE: portal down"
    )
    assert result.outcomes == [
        InvoiceOutcome(OUTCOME_STORED),
        InvoiceOutcome(OUTCOME_FAILED, reason=why),
        InvoiceOutcome(OUTCOME_FAILED, reason=why),
    ]
    assert len(connector.requests) == 1  # the last attempt asked the portal nothing


async def test_logins_and_listings_wait_for_the_budget_but_give_up_on_failures() -> None:
    activities = ImportActivities(ConnectorStub(login_error=rate_limited(3)), StorageStub())  # type: ignore[arg-type]
    login = OpenSessionInput("0101234560", PASSWORD)
    waited = AttemptLog(waits=MAX_FAILED_LOGINS + 5)
    with pytest.raises(ApplicationError) as raised:
        await Env(waited, attempt=waited.waits + 1).run(activities.open_session, login)
    assert raised.value.type == "RESOURCE_EXHAUSTED"  # still waiting, not given up

    failing = AttemptLog(waits=2, last_problem="connector OpenSession: UNAVAILABLE: down")
    with pytest.raises(ApplicationError) as raised:
        await Env(failing, attempt=MAX_FAILED_LOGINS + 3).run(activities.open_session, login)
    assert raised.value.non_retryable and raised.value.type == "GAVE_UP"
    assert raised.value.message == (
        f"connector OpenSession gave up after {MAX_FAILED_LOGINS} failed attempts: "
        "connector OpenSession: UNAVAILABLE: down"
    )

    listing = ListInvoicesInput("s-1", SOLD, 2025, 3, "2025-03-01", "2025-03-31")
    with pytest.raises(ApplicationError) as raised:
        await Env(attempt=MAX_FAILED_ATTEMPTS + 1).run(activities.list_invoices, listing)
    assert raised.value.non_retryable and raised.value.message == (
        f"connector ListInvoices gave up after {MAX_FAILED_ATTEMPTS} failed attempts: "
        "they timed out or their worker stopped"
    )


async def test_storage_trouble_fails_the_batch_but_a_bad_invoice_only_itself() -> None:
    invoices = refs(3)
    connector = ConnectorStub(
        fetches=[[downloaded(r) for r in invoices], [downloaded(r) for r in invoices[1:]]]
    )
    storage = StorageStub(
        errors={
            1: failed(grpc.StatusCode.INVALID_ARGUMENT, "issue date out of range"),
            2: failed(grpc.StatusCode.UNAVAILABLE, "gcs is down"),
        }
    )
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    env = Env()

    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.fetch_invoice_batch, batch(invoices))
    assert raised.value.type == "UNAVAILABLE" and not raised.value.non_retryable

    storage.errors[3] = failed(grpc.StatusCode.PERMISSION_DENIED, "no write access to bucket")
    with pytest.raises(ApplicationError) as raised:
        await Env(env.beats[-1]).run(activities.fetch_invoice_batch, batch(invoices))
    assert raised.value.non_retryable
    assert raised.value.message == (
        "storage WriteInvoice: PERMISSION_DENIED: no write access to bucket"
    )
    assert env.beats[-1].outcomes[0] == InvoiceOutcome(
        OUTCOME_FAILED, reason="storage WriteInvoice: INVALID_ARGUMENT: issue date out of range"
    )


async def test_answers_out_of_request_order_fail_the_batch() -> None:
    invoices = refs(2)
    connector = ConnectorStub(fetches=[[downloaded(invoices[1]), downloaded(invoices[0])]])
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]

    with pytest.raises(ApplicationError) as raised:
        await Env().run(activities.fetch_invoice_batch, batch(invoices))

    assert raised.value.non_retryable and raised.value.type == "PROTOCOL_ERROR"


async def test_the_manifest_reports_every_period_and_failure() -> None:
    [bad] = refs(1, first=77)
    storage = StorageStub()
    activities = ImportActivities(ConnectorStub(), storage)  # type: ignore[arg-type]
    counts = PeriodCounts(
        SOLD,
        2025,
        3,
        portal_total=10,
        discovered=10,
        stored=8,
        failed=1,
        already_stored=1,
        without_original=2,
    )
    params = ManifestInput(
        "bucket-a",
        "0101234560",
        "demo:invoice-import:x",
        "2025-04-01T02:03:04+00:00",
        [ManifestPeriod(counts, [FailedInvoice(bad, "gone")])],
    )

    name = await Env().run(activities.write_manifest, params)

    assert name == "gdt_invoices/0101234560/manifests/1.json"
    [request] = storage.manifests
    assert request.import_id == "demo:invoice-import:x" and request.bucket == "bucket-a"
    assert request.start_time.ToDatetime(dt.UTC) == dt.datetime(2025, 4, 1, 2, 3, 4, tzinfo=dt.UTC)
    [period] = request.periods
    assert (period.flow, period.month.year, period.month.month) == (SOLD, 2025, 3)
    assert (
        period.portal_total,
        period.discovered,
        period.stored,
        period.already_stored,
        period.without_original,
    ) == (10, 10, 8, 1, 2)
    assert [(f.key.number, f.reason) for f in period.failed] == [(77, "gone")]

    storage.manifest_error = failed(grpc.StatusCode.DEADLINE_EXCEEDED, "slow bucket")
    with pytest.raises(ApplicationError) as raised:
        await Env().run(activities.write_manifest, params)
    assert not raised.value.non_retryable


async def test_an_expired_session_is_told_apart_from_a_refused_login() -> None:
    expired = ServiceError(
        grpc.StatusCode.UNAUTHENTICATED, "session expired", [error_info("SESSION_EXPIRED")]
    )
    connector = ConnectorStub(fetches=[[rpc_error(expired)]])
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]

    with pytest.raises(ApplicationError) as raised:
        await Env().run(activities.fetch_invoice_batch, batch(refs(1)))

    assert raised.value.type == SESSION_EXPIRED and raised.value.non_retryable


async def test_only_the_clipped_side_of_a_month_filters_by_issue_date() -> None:
    odd = make_ref(dt.date(2025, 2, 28), 1)  # listed for March by the portal
    inside = make_ref(dt.date(2025, 3, 5), 2)
    after = make_ref(dt.date(2025, 3, 20), 3)
    page = gdt_connector_pb2.ListInvoicesResponse(
        invoices=[unpack(r) for r in (odd, inside, after)]
    )
    activities = ImportActivities(ConnectorStub(pages=[page]), StorageStub())  # type: ignore[arg-type]

    result = await Env().run(
        activities.list_invoices,
        ListInvoicesInput("s-1", SOLD, 2025, 3, "2025-03-01", "2025-03-10"),
    )

    assert result.invoices == [odd, inside]  # the month's start is not clipped: trust the portal
