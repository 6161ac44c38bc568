"""The connector end to end over gRPC against the sandbox portal: sessions, every flow and
month compared with the sandbox's ground truth, downloads with and without originals, the
legacy base, and request validation."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from typing import Any

import aiohttp
import grpc
import pytest
from google.rpc import error_details_pb2

from gdtmesh.flows import FLOWS, flow_by_code
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import error_details
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from services.gdt_connector.originals import parse_xml
from tests.support.connector import Connector, StartConnector
from tests.support.portal import MONTHS, StartPortal, requests_to, truth

pytestmark = pytest.mark.timeout(60)
Key = tuple[str, str, int, int]


def key_of(invoice: invoice_pb2.InvoiceSummary) -> Key:
    key = invoice.key
    return (key.seller_tax_code, key.series, key.number, key.form)


async def test_every_flow_and_month_matches_the_truth(
    connector: Connector,
    portal: RunningSandbox,
    company: Company,
    session: aiohttp.ClientSession,
) -> None:
    session_id = await connector.open(company)
    listed = 0
    for info in FLOWS:
        for year, month in MONTHS:
            pages = await connector.list_pages(session_id, info.flow, year, month)
            invoices = [invoice for page in pages for invoice in page.invoices]
            keys = [key_of(invoice) for invoice in invoices]
            expected = await truth(session, portal, company.mst, info.code, year, month)
            assert len(keys) == len(set(keys)), "an invoice was streamed twice"
            assert sorted(keys) == sorted(expected), (info.code, year, month)
            # The ttxly queries are disjoint, so the summed portal totals count every invoice.
            assert pages and all(page.portal_total == len(expected) for page in pages)
            for invoice in invoices:
                day = invoice.issue_date
                assert (day.year, day.month) == (year, month)
                assert 1 <= invoice.invoice_status <= 5
                if info.family == "sco-query":
                    assert invoice.processing_status == 8
                else:
                    assert invoice.processing_status in (5, 6)
            listed += len(invoices)
    assert listed > 100
    # One page per query at most 50 rows: every list request asked for exactly that.
    assert requests_to(portal, "/query/invoices/purchase").get("200", 0) >= 3 * len(MONTHS)


async def test_pages_are_portal_pages_of_fifty(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    session_id = await connector.open(company)
    sizes = {}
    for info in FLOWS:
        for year, month in MONTHS:
            pages = await connector.list_pages(session_id, info.flow, year, month)
            sizes[info.code, year, month] = [len(page.invoices) for page in pages]
    multi = {
        where: counts for where, counts in sizes.items() if len(counts) > 1 and counts[0] == 50
    }
    assert multi, f"no month spans several pages: {sizes}"
    assert all(count <= 50 for counts in sizes.values() for count in counts)


async def test_fetch_details_and_originals(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    session_id = await connector.open(company)
    flow = flow_by_code("mua_vao_dien_tu").flow
    listed = await connector.list_all(session_id, flow, *MONTHS[1])
    with_original = [i for i in listed if i.has_original][:4]
    without_original = [i for i in listed if not i.has_original][:2]
    assert with_original and without_original, "the month needs invoices with and without XML"
    batch = [without_original[0], *with_original, *without_original[1:]]
    results = await connector.fetch(session_id, flow, batch)

    assert [key_of(r.invoice) for r in results] == [key_of(i) for i in batch]
    dataset = portal.portal.dataset
    for result in results:
        assert not result.HasField("error")
        key = result.invoice.key
        ref = dataset.find(
            company.mst,
            "query",
            key.seller_tax_code,
            key.series,
            key.number,
            key.form,
            portal.portal.now(),
        )
        assert ref is not None
        served = json.dumps(dataset.detail(ref), ensure_ascii=False, separators=(",", ":"))
        assert result.detail_json == served.encode(), "the detail must be kept byte for byte"
        if result.invoice.has_original:
            assert result.original_status == gdt_connector_pb2.ORIGINAL_STATUS_PRESENT
            archive = zipfile.ZipFile(io.BytesIO(dataset.export_zip(ref)))
            assert result.original_xml == archive.read("invoice.xml")
            root = parse_xml(result.original_xml)
            assert root.findtext("DLHDon/TTChung/SHDon") == str(key.number)
        else:
            assert result.original_status == gdt_connector_pb2.ORIGINAL_STATUS_NONE
            assert result.original_xml == b""
    assert requests_to(portal, "/query/invoices/export-xml") == {"200": len(with_original)}


async def test_cash_register_downloads_use_the_sco_family(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    session_id = await connector.open(company)
    flow = flow_by_code("ban_ra_may_tinh_tien").flow
    listed = await connector.list_all(session_id, flow, *MONTHS[1])
    results = await connector.fetch(session_id, flow, listed[:3])
    assert len(results) == len(listed[:3]) > 0
    assert all(not r.HasField("error") and r.detail_json for r in results)
    assert requests_to(portal, "/sco-query/invoices/detail") == {"200": len(results)}
    assert "/query/invoices/detail" not in portal.portal.stats.to_dict()["requests"]


async def test_legacy_base_without_prefix(
    start_portal: StartPortal, start_connector: StartConnector, session: aiohttp.ClientSession
) -> None:
    portal = await start_portal(legacy_port=0)
    assert portal.legacy_url is not None
    connector = await start_connector(portal.legacy_url, portal_path_prefix="")
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    session_id = await connector.open(company)
    code = company.flows[0]
    listed = await connector.list_all(session_id, flow_by_code(code).flow, *MONTHS[0])
    expected = await truth(session, portal, company.mst, code, *MONTHS[0])
    assert sorted(key_of(i) for i in listed) == sorted(expected)


async def test_open_session_reuses_a_live_token_for_the_same_password(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    first = await connector.open(company)
    second = await connector.open(company)
    assert first != second and len(first) >= 32
    assert requests_to(portal, "/security-taxpayer/authenticate") == {"200": 1}
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.open(company, password="not-the-password")
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert requests_to(portal, "/security-taxpayer/authenticate") == {"200": 1, "401": 1}


async def test_unknown_session_is_unauthenticated(connector: Connector) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.list_all("no-such-session", invoice_pb2.FLOW_SOLD_ELECTRONIC, *MONTHS[0])
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reasons = [d.reason for d in error_details(raised.value) if hasattr(d, "reason")]
    assert reasons == ["SESSION_EXPIRED"]


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {
        v.field: v.description
        for d in error_details(error)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    }


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({"flow": 0, "month": (2026, 3)}, {"flow"}),
        ({"flow": 1, "month": (2026, 13)}, {"month.month"}),
        ({"flow": 1, "month": (1999, 1)}, {"month.year"}),
        ({"flow": 9, "month": (2026, 0), "session_id": ""}, {"flow", "month.month", "session_id"}),
    ],
)
async def test_bad_list_requests(
    connector: Connector, request_fields: dict[str, Any], fields: set[str]
) -> None:
    year, month = request_fields["month"]
    request = gdt_connector_pb2.ListInvoicesRequest(
        session_id=request_fields.get("session_id", "s"),
        flow=request_fields["flow"],
        month=invoice_pb2.YearMonth(year=year, month=month),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        [page async for page in connector.stub.ListInvoices(request, timeout=5)]
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == fields


async def test_bad_open_and_fetch_requests(connector: Connector) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.stub.OpenSession(
            gdt_connector_pb2.OpenSessionRequest(username="12345", password=""), timeout=5
        )
    assert set(violations(raised.value)) == {"username", "password"}

    bad = invoice_pb2.InvoiceSummary(
        key=invoice_pb2.InvoiceKey(seller_tax_code="x", form=0, series="", number=0),
        issue_date=None,
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.fetch("s", invoice_pb2.FLOW_SOLD_ELECTRONIC, [bad])
    assert set(violations(raised.value)) == {
        "invoices[0].key.seller_tax_code",
        "invoices[0].key.form",
        "invoices[0].key.series",
        "invoices[0].key.number",
    }
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.fetch("s", invoice_pb2.FLOW_SOLD_ELECTRONIC, [])
    assert set(violations(raised.value)) == {"invoices"}


def test_issue_dates_are_vietnam_days() -> None:
    from services.gdt_connector.listing import summary_of

    row = {
        "nbmst": "0102431848",
        "khmshdon": 1,
        "khhdon": "K25TEK",
        "shdon": 5104,
        "tdlap": "2025-09-21T17:00:00Z",
        "ttxly": 6,
        "tthai": 1,
        "hsgoc": None,
    }
    summary = summary_of(row)
    assert summary.issue_date == date(2025, 9, 22)
    assert not summary.has_original


async def test_a_batch_over_the_limit_is_refused_whole(
    start_connector: StartConnector, portal: RunningSandbox
) -> None:
    connector = await start_connector(portal.url, gdt_connector_fetch_max_batch=2)
    bad = invoice_pb2.InvoiceSummary(key=invoice_pb2.InvoiceKey(seller_tax_code="x"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.fetch("s", invoice_pb2.FLOW_SOLD_ELECTRONIC, [bad] * 3)
    assert violations(raised.value) == {"invoices": "must hold 1 to 2 invoices"}
