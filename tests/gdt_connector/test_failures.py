"""The failure table, row by row: what the portal says and what the connector answers.

The sandbox injects 429s, block pages, 5xx, hangs and cut bodies itself; a tampering proxy in
front of it supplies what the sandbox never says (a firewall 403, malformed bodies, an XML that
disagrees with its detail, a ZIP bomb, the missing-original 500)."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile

import grpc
import pytest
from aiohttp import web
from redis.asyncio import Redis

from gdtmesh.flows import flow_by_code
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import retry_delay
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from tests.support.connector import Connector, StartConnector, TamperingProxy, reasons
from tests.support.portal import MONTHS, StartPortal, requests_to

pytestmark = pytest.mark.timeout(60)
LOGIN = "/security-taxpayer/authenticate"
SOLD = flow_by_code("ban_ra_dien_tu").flow
PURCHASE = flow_by_code("mua_vao_dien_tu").flow
FIREWALL = {
    "status": 403,
    "message": "Hệ thống phát hiện hành vi không hợp lệ. Yêu cầu đã bị chặn.",
}


async def failing(call: asyncio.Future[object] | object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


async def listed(
    connector: Connector, company: Company, flow: invoice_pb2.Flow.ValueType = SOLD
) -> tuple[str, list[invoice_pb2.InvoiceSummary]]:
    session_id = await connector.open(company)
    return session_id, await connector.list_all(session_id, flow, *MONTHS[1])


# ---- 429 -------------------------------------------------------------------------------------


async def test_429_backs_off_the_account_and_answers_retry_info(
    start_portal: StartPortal, start_connector: StartConnector, redis: Redis
) -> None:
    portal = await start_portal(rate_per_account=2, burst_per_account=3, min_backoff_s=1)
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(portal.url, portal_backoff_initial_seconds=1.0)
    session_id = await connector.open(company)

    error = await failing(connector.list_all(session_id, PURCHASE, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reasons(error) == ["PORTAL_THROTTLED"]
    delay = retry_delay(error)
    assert delay is not None and 0.9 <= delay.total_seconds() <= 1.1
    assert await redis.exists(f"gdtmesh:{{connector}}:blocked:{company.mst}")

    # While blocked, nothing for the account leaves the connector.
    sent = portal.portal.stats.to_dict()["total"]
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reasons(error) == ["PORTAL_BACKOFF"]
    assert portal.portal.stats.to_dict()["total"] == sent

    await asyncio.sleep(retry_delay(error).total_seconds() + 0.6)  # type: ignore[union-attr]
    assert (
        await connector.list_all(session_id, flow_by_code("mua_vao_may_tinh_tien").flow, 2026, 1)
        == []
    )
    account = portal.portal.stats.to_dict()["accounts"][company.mst]
    assert account["during_backoff"] == 0, "the connector sent while told to back off"


async def test_429_honours_retry_after(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(rate_per_account=1, burst_per_account=2, retry_after=True)
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(
        portal.url, portal_backoff_initial_seconds=30.0, portal_backoff_max_seconds=60.0
    )
    session_id = await connector.open(company)
    error = await failing(connector.list_all(session_id, PURCHASE, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    delay = retry_delay(error)
    assert delay is not None and 0.5 <= delay.total_seconds() <= 2.1, delay


async def test_a_batch_goes_on_past_the_invoices_that_wait_for_the_budget(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(rate_per_account=1, burst_per_account=3, min_backoff_s=1)
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(
        portal.url, portal_account_rate=1.0, portal_account_burst=2, portal_max_wait_seconds=3.0
    )
    session_id, invoices = await listed(connector, company)
    batch = invoices[:6]
    await asyncio.sleep(3)  # the account's burst is back

    results = await connector.fetch(session_id, SOLD, batch)

    # Every invoice is answered, in order: the downloads admitted were not cancelled because a
    # later one had to wait; the waiting ones say for how long, and nothing went over the rate.
    assert [r.invoice.key for r in results] == [i.key for i in batch]
    waiting = [r for r in results if r.HasField("error")]
    assert 0 < len(waiting) < len(batch)
    for result in waiting:
        assert result.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        assert "budget" in result.error.message and result.error.details
    account = portal.portal.stats.to_dict()["accounts"][company.mst]
    assert (account["throttled"], account["over_rate"]) == (0, 0)


# ---- 401 -------------------------------------------------------------------------------------


async def test_401_logs_in_again_transparently(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    session_id, before = await listed(connector, company)
    portal.portal.tokens.revoke(company.mst)
    after = await connector.list_all(session_id, SOLD, *MONTHS[1])
    assert after == before
    assert requests_to(portal, LOGIN) == {"200": 2}
    assert requests_to(portal, "/query/invoices/sold").get("401") == 1


async def test_a_locked_account_stops_at_the_re_login(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    session_id, _ = await listed(connector, company)
    portal.portal.set_locked(company.mst, True)  # revokes its tokens too
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


# ---- firewall, 5xx, timeouts, resets ---------------------------------------------------------


async def test_html_block_page_is_unavailable_without_re_login(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(faults={"html_block": {"list": 1.0}})
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(portal.url)
    error = await failing(listed(connector, company))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert reasons(error) == ["PORTAL_FIREWALL"]
    assert requests_to(portal, LOGIN) == {"200": 1}


async def test_firewall_403_is_unavailable_without_re_login(
    start_connector: StartConnector, proxy: TamperingProxy, portal: RunningSandbox, company: Company
) -> None:
    proxy.rules["/invoices/sold"] = lambda request, status, body: web.json_response(
        FIREWALL, status=403
    )
    connector = await start_connector(proxy.url)
    error = await failing(listed(connector, company))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert reasons(error) == ["PORTAL_FIREWALL"]
    assert "403" in (error.details() or "")
    assert requests_to(portal, LOGIN) == {"200": 1}


async def test_server_errors_are_unavailable(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(faults={"error_5xx": {"list": 1.0}})
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(portal.url)
    error = await failing(listed(connector, company))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_hanging_portal_is_deadline_exceeded(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(faults={"hang": {"list": 1.0}})
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(portal.url, portal_list_timeout_seconds=0.3)
    error = await failing(listed(connector, company))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert reasons(error) == ["PORTAL_TIMEOUT"]


async def test_a_cut_body_is_unavailable(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(faults={"cut_body": {"detail": 1.0}})
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(portal.url)
    session_id, invoices = await listed(connector, company)
    error = await failing(connector.fetch(session_id, SOLD, invoices[:2]))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_transient_failure_ends_the_batch_after_the_invoices_before_it(
    start_connector: StartConnector, proxy: TamperingProxy, company: Company
) -> None:
    connector = await start_connector(proxy.url)
    session_id, invoices = await listed(connector, company)
    broken = str(invoices[2].key.number)
    proxy.rules["/invoices/detail"] = lambda request, status, body: (
        web.Response(status=503, text="<html>503</html>", content_type="text/html")
        if request.query["shdon"] == broken
        else None
    )
    request = gdt_connector_pb2.FetchInvoicesRequest(
        session_id=session_id, flow=SOLD, invoices=invoices[:6]
    )
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for item in connector.stub.FetchInvoices(request, timeout=10):
            received.append(item)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert [r.invoice for r in received] == list(invoices[:2])


# ---- malformed bodies and originals ----------------------------------------------------------


async def test_a_malformed_detail_fails_only_that_invoice(
    start_connector: StartConnector, proxy: TamperingProxy, company: Company
) -> None:
    connector = await start_connector(proxy.url)
    session_id, invoices = await listed(connector, company)
    broken = str(invoices[1].key.number)
    proxy.rules["/invoices/detail"] = lambda request, status, body: (
        web.Response(body=body[: len(body) // 2], content_type="application/json")
        if request.query["shdon"] == broken
        else None
    )
    results = await connector.fetch(session_id, SOLD, invoices[:3])
    assert [r.HasField("error") for r in results] == [False, True, False]
    assert results[1].error.code == grpc.StatusCode.DATA_LOSS.value[0]
    assert "not valid JSON" in results[1].error.message
    assert not results[1].detail_json and results[1].invoice == invoices[1]


async def test_a_malformed_list_page_is_data_loss(
    start_connector: StartConnector, proxy: TamperingProxy, company: Company
) -> None:
    proxy.rules["/invoices/sold"] = lambda request, status, body: web.json_response({"total": 3})
    connector = await start_connector(proxy.url)
    error = await failing(listed(connector, company))
    assert error.code() == grpc.StatusCode.DATA_LOSS
    assert "datas" in (error.details() or "")


def rewrite_xml(body: bytes, change: tuple[bytes, bytes]) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "invoice.xml":
                data = re.sub(change[0], change[1], data)
            target.writestr(name, data)
    return out.getvalue()


async def test_an_xml_that_disagrees_is_mismatch(
    start_connector: StartConnector, proxy: TamperingProxy, company: Company
) -> None:
    proxy.rules["/invoices/export-xml"] = lambda request, status, body: web.Response(
        body=rewrite_xml(body, (rb"<TgTTTBSo>\d+", b"<TgTTTBSo>1")), content_type="application/zip"
    )
    connector = await start_connector(proxy.url)
    session_id, invoices = await listed(connector, company)
    (result,) = await connector.fetch(session_id, SOLD, invoices[:1])
    assert result.original_status == gdt_connector_pb2.ORIGINAL_STATUS_MISMATCH
    assert result.original_mismatch.startswith("total: detail ")
    assert b"<TgTTTBSo>1" in result.original_xml and result.detail_json


async def test_a_zip_bomb_is_refused(
    start_connector: StartConnector, proxy: TamperingProxy, company: Company
) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("invoice.xml", b"<HDon>" + b" " * 5_000_000 + b"</HDon>")
    proxy.rules["/invoices/export-xml"] = lambda request, status, body: web.Response(
        body=bomb.getvalue(), content_type="application/zip"
    )
    connector = await start_connector(proxy.url)
    session_id, invoices = await listed(connector, company)
    (result,) = await connector.fetch(session_id, SOLD, invoices[:1])
    assert result.error.code == grpc.StatusCode.DATA_LOSS.value[0]
    assert "ZIP bomb" in result.error.message


async def test_the_missing_original_500_is_none(
    start_connector: StartConnector, proxy: TamperingProxy, company: Company
) -> None:
    proxy.rules["/invoices/export-xml"] = lambda request, status, body: web.json_response(
        {"message": "Không tồn tại hồ sơ gốc của hóa đơn.", "path": "uri=/invoices/export-xml"},
        status=500,
    )
    connector = await start_connector(proxy.url)
    session_id, invoices = await listed(connector, company)
    (result,) = await connector.fetch(session_id, SOLD, invoices[:1])
    assert not result.HasField("error")
    assert result.original_status == gdt_connector_pb2.ORIGINAL_STATUS_NONE
    assert result.detail_json and not result.original_xml
