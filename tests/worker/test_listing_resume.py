"""A listing stopped by the portal's budget resumes after the last page it received (the
connector's token, kept in the heartbeat with what the pages gave); any other failure starts
the next attempt from page 1, and so does a position the portal no longer accepts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import grpc
import pytest
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from tests.support.imports import make_ref
from tests.support.services import ConnectorStub, StorageStub, failed, rate_limited
from workers.imports.activities import ImportActivities, ListingProgress
from workers.imports.attempts import AttemptLog
from workers.imports.models import ListInvoicesInput
from workers.imports.refs import unpack

SOLD = int(Flow.FLOW_SOLD_ELECTRONIC)
MONTH = [make_ref(dt.date(2025, 3, day), day) for day in range(1, 7)]
WINDOW = ListInvoicesInput("s-1", SOLD, 2025, 3, "2025-03-01", "2025-03-31")


def page(refs: list[str], token: str) -> gdt_connector_pb2.ListInvoicesResponse:
    return gdt_connector_pb2.ListInvoicesResponse(
        invoices=[unpack(ref) for ref in refs], portal_total=len(MONTH), resume_token=token
    )


class Env:
    """An ActivityEnvironment that keeps every heartbeat, and hands a retry what the server
    would: the last heartbeat's details, as JSON."""

    def __init__(self, details: tuple[Any, ...] = ()) -> None:
        self.env = ActivityEnvironment()
        self.beats: list[tuple[Any, ...]] = []
        self.env.on_heartbeat = lambda *beat: self.beats.append(beat)
        converter = DataConverter.default.payload_converter
        raw = converter.from_payloads(converter.to_payloads(list(details))) if details else []
        self.env.info = dataclasses.replace(self.env.info, heartbeat_details=raw)

    async def run(self, activities: ImportActivities) -> Any:
        return await self.env.run(activities.list_invoices, WINDOW)


async def _stopped(error: grpc.aio.AioRpcError) -> tuple[Env, ConnectorStub]:
    connector = ConnectorStub(pages=[page(MONTH[:3], "after-page-1"), error])
    env = Env()
    with pytest.raises(ApplicationError):
        await env.run(ImportActivities(connector, StorageStub()))  # type: ignore[arg-type]
    return env, connector


async def test_a_listing_the_budget_stopped_goes_on_after_its_last_page() -> None:
    env, _ = await _stopped(rate_limited(5))
    attempts, listing = env.beats[-1]
    assert listing.resume_token == "after-page-1" and listing.kept == MONTH[:3]

    connector = ConnectorStub(pages=[page(MONTH[3:], "")])
    result = await Env((attempts, listing)).run(ImportActivities(connector, StorageStub()))  # type: ignore[arg-type]

    assert connector.requests[0].resume_token == "after-page-1"
    assert result.invoices == MONTH and result.listed == len(MONTH)


async def test_any_other_failure_starts_the_next_attempt_from_page_1() -> None:
    env, _ = await _stopped(failed(grpc.StatusCode.UNAVAILABLE, "cut"))
    assert env.beats[-1][1] == ListingProgress()


async def test_a_position_the_portal_no_longer_accepts_is_listed_again_from_page_1() -> None:
    listing = ListingProgress("stale", len(MONTH), 3, MONTH[:3], {"2025-03-01": 3})
    connector = ConnectorStub(pages=[failed(grpc.StatusCode.INVALID_ARGUMENT, "stale token")])
    activities = ImportActivities(connector, StorageStub())  # type: ignore[arg-type]
    first_try = connector.ListInvoices
    calls = iter([first_try, lambda request, timeout=None: _whole(connector, request)])
    connector.ListInvoices = lambda request, timeout=None: next(calls)(request, timeout)  # type: ignore[method-assign]

    result = await Env((AttemptLog(), listing)).run(activities)

    assert [r.resume_token for r in connector.requests] == ["stale", ""]
    assert result.invoices == MONTH


def _whole(connector: ConnectorStub, request: Any) -> Any:
    connector.pages = [page(MONTH, "")]
    return ConnectorStub.ListInvoices(connector, request)
