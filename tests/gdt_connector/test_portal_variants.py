"""The portal as different crawlers recorded it (gdt-portal.md, "Added 2026-12"): the connector
against the sandbox switched each way (`request_id_required`, `sco_errors_request_id`,
`block_page`, `throttle_answer`, `login_token_key`/`login_token_bearer`, `captcha_format`,
`misfiled_xml_rate`), with the portal requests each costs counted."""

from __future__ import annotations

import grpc
import pytest
from aiohttp import web

from gdtmesh.flows import flow_by_code
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import retry_delay
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from sandbox.settings import apply_patch
from tests.support.connector import StartConnector, TamperingProxy, reasons
from tests.support.portal import MONTHS, StartPortal, requests_to

pytestmark = pytest.mark.timeout(60)
SOLD = flow_by_code("ban_ra_dien_tu").flow
PURCHASE = flow_by_code("mua_vao_dien_tu").flow
SCO_SOLD = flow_by_code("ban_ra_may_tinh_tien").flow
EXPORT = "/query/invoices/export-xml"
SCO_EXPORT = "/sco-query/invoices/export-xml"


async def failing(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


def unlocked(portal: RunningSandbox) -> Company:
    companies = [c for c in portal.portal.dataset.companies() if not c.locked]
    return max(companies, key=lambda c: len(c.flows))


def switch(portal: RunningSandbox, **patch: object) -> None:
    portal.portal.config = apply_patch(portal.portal.config, patch)


# ---- 1. request-id required on some bases and dates, not others ------------------------------


async def test_request_id_is_sent_where_the_portal_does_not_require_it(
    start_connector: StartConnector, proxy: TamperingProxy, portal: RunningSandbox
) -> None:
    switch(portal, request_id_required=False)
    seen: list[str | None] = []

    def record(request: web.Request, _status: int, _body: bytes) -> None:
        seen.append(request.headers.get("request-id"))

    for path in ("/authenticate", "/invoices/sold", "/invoices/detail", "/invoices/export-xml"):
        proxy.rules[path] = record
    connector = await start_connector(proxy.url)
    company = unlocked(portal)
    session_id = await connector.open(company)
    invoices = await connector.list_all(session_id, SOLD, *MONTHS[1])
    results = await connector.fetch(session_id, SOLD, invoices[:2])
    assert len(results) == 2 and not any(r.HasField("error") for r in results)
    assert len(seen) >= 1 + 1 + 2
    assert all(seen), "every request but the captcha carries a request-id"
    assert len(set(seen)) == len(seen), "a fresh request-id per request"


# ---- 2. error bodies and the second block page -------------------------------------------------


async def test_sco_errors_without_request_id_are_read(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(sco_errors_request_id=False)
    company = unlocked(portal)
    connector = await start_connector(portal.url)
    session_id = await connector.open(company)
    invoices = await connector.list_all(session_id, SCO_SOLD, *MONTHS[1])
    unknown = invoice_pb2.InvoiceSummary()
    unknown.CopyFrom(invoices[0])
    unknown.key.number = 99_999_999
    results = await connector.fetch(session_id, SCO_SOLD, [unknown, invoices[0]])
    assert results[0].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "không tồn tại hóa đơn" in results[0].error.message.lower()
    assert not results[1].HasField("error")
    assert requests_to(portal, "/sco-query/invoices/detail") == {"500": 1, "200": 1}


@pytest.mark.parametrize("form", ["request-rejected", "cant-display"])
async def test_either_block_page_is_the_firewall(
    form: str, start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(block_page=form, faults={"html_block": {"list": 1.0}})
    connector = await start_connector(portal.url)
    session_id = await connector.open(unlocked(portal))
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert reasons(error) == ["PORTAL_FIREWALL"]
    assert "block page" in (error.details() or "")
    assert requests_to(portal, "/query/invoices/sold") == {"200": 1}


async def test_a_block_page_with_another_status_is_the_firewall_too(
    start_connector: StartConnector, proxy: TamperingProxy, portal: RunningSandbox
) -> None:
    page = "<html><body>This page can't be displayed. The incident ID is: 7741.</body></html>"
    proxy.rules["/invoices/sold"] = lambda request, status, body: web.Response(
        status=500, text=page, content_type="text/html", charset="UTF-8"
    )
    connector = await start_connector(proxy.url)
    session_id = await connector.open(unlocked(portal))
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert reasons(error) == ["PORTAL_FIREWALL"]


# ---- 3. throttling that is not a 429 -------------------------------------------------------------


@pytest.mark.parametrize("answer", ["429", "503", "message"])
async def test_each_throttle_answer_backs_the_account_off(
    answer: str, start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(
        rate_per_account=2, burst_per_account=3, throttle_answer=answer, retry_after=True
    )
    company = unlocked(portal)
    # A backoff of its own far from the portal's Retry-After (1-2 s): the delay must be the latter.
    connector = await start_connector(portal.url, portal_backoff_initial_seconds=7.0)
    session_id = await connector.open(company)
    error = await failing(connector.list_all(session_id, PURCHASE, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reasons(error) == ["PORTAL_THROTTLED"]
    delay = retry_delay(error)
    assert delay is not None and 0.9 <= delay.total_seconds() <= 2.1

    sent = portal.portal.stats.to_dict()["total"]
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert reasons(error) == ["PORTAL_BACKOFF"]
    assert portal.portal.stats.to_dict()["total"] == sent, "nothing leaves while blocked"


async def test_a_throttle_without_retry_after_takes_the_initial_backoff(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(rate_per_account=2, burst_per_account=3, throttle_answer="503")
    connector = await start_connector(portal.url, portal_backoff_initial_seconds=3.0)
    session_id = await connector.open(unlocked(portal))
    error = await failing(connector.list_all(session_id, PURCHASE, *MONTHS[1]))
    assert reasons(error) == ["PORTAL_THROTTLED"]
    delay = retry_delay(error)
    assert delay is not None and 2.9 <= delay.total_seconds() <= 3.1


@pytest.mark.parametrize(
    ("status", "text", "content_type"),
    [
        (500, '{"message":"Quá nhiều yêu cầu, vui lòng thử lại sau."}', "application/json"),
        (200, '{"status":429,"message":"Too many requests"}', "application/json"),
        (503, "<html><body>Too Many Requests</body></html>", "text/html"),
    ],
)
async def test_a_body_saying_throttled_honours_a_decimal_retry_after(
    status: int,
    text: str,
    content_type: str,
    start_connector: StartConnector,
    proxy: TamperingProxy,
    portal: RunningSandbox,
) -> None:
    proxy.rules["/invoices/sold"] = lambda request, _status, body: web.Response(
        status=status, text=text, content_type=content_type, headers={"Retry-After": "1.5"}
    )
    connector = await start_connector(proxy.url, portal_backoff_initial_seconds=7.0)
    session_id = await connector.open(unlocked(portal))
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert reasons(error) == ["PORTAL_THROTTLED"]
    delay = retry_delay(error)
    assert delay is not None and 1.4 <= delay.total_seconds() <= 1.6


async def test_the_proxys_bare_503_page_stays_unavailable(
    start_connector: StartConnector, proxy: TamperingProxy, portal: RunningSandbox
) -> None:
    proxy.rules["/invoices/sold"] = lambda request, status, body: web.Response(
        status=503,
        text="<html>503 Service Temporarily Unavailable</html>",
        content_type="text/html",
    )
    connector = await start_connector(proxy.url)
    session_id = await connector.open(unlocked(portal))
    error = await failing(connector.list_all(session_id, SOLD, *MONTHS[1]))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert reasons(error) == ["PORTAL_UNAVAILABLE"]


# ---- 4. the login answer's token key and prefix; a PNG captcha --------------------------------


@pytest.mark.parametrize("key", ["token", "access_token", "Token"])
@pytest.mark.parametrize("bearer", [False, True])
async def test_every_login_token_shape_opens_a_session(
    key: str, bearer: bool, start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(login_token_key=key, login_token_bearer=bearer)
    connector = await start_connector(portal.url)
    session_id = await connector.open(unlocked(portal))
    pages = await connector.list_pages(session_id, SOLD, *MONTHS[1])
    assert pages and pages[0].portal_total > 0
    assert requests_to(portal, "/security-taxpayer/authenticate") == {"200": 1}
    assert "401" not in requests_to(portal, "/query/invoices/sold")


async def test_a_png_captcha_is_refused_by_name(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(captcha_format="png")
    connector = await start_connector(portal.url)
    error = await failing(connector.open(unlocked(portal)))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert reasons(error) == ["CAPTCHA_UNSUPPORTED"]
    assert "image/png data URI (base64)" in (error.details() or "")
    assert requests_to(portal, "/captcha") == {"200": 1}, "not retried: every captcha is a PNG"
    assert requests_to(portal, "/security-taxpayer/authenticate") == {}


# ---- 5. an invoice filed under the other family ------------------------------------------------


async def test_a_misfiled_export_is_fetched_from_the_other_family(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(misfiled_xml_rate=0.4)
    company = unlocked(portal)
    connector = await start_connector(portal.url)
    session_id = await connector.open(company)
    invoices = [i for i in await connector.list_all(session_id, SOLD, *MONTHS[1]) if i.has_original]
    batch = invoices[:12]
    refs = [
        portal.portal.dataset.find(
            company.mst,
            "query",
            i.key.seller_tax_code,
            i.key.series,
            i.key.number,
            i.key.form,
            portal.portal.now(),
        )
        for i in batch
    ]
    misfiled = sum(portal.portal.misfiled(ref) for ref in refs if ref is not None)
    assert 0 < misfiled < len(batch), "the batch needs misfiled and ordinary invoices"

    results = await connector.fetch(session_id, SOLD, batch)
    assert [r.original_status for r in results] == [
        gdt_connector_pb2.ORIGINAL_STATUS_PRESENT
    ] * len(batch)
    assert all(r.original_xml for r in results)
    # One extra request per misfiled invoice, none for the others.
    assert requests_to(portal, EXPORT) == {"200": len(batch) - misfiled, "500": misfiled}
    assert requests_to(portal, SCO_EXPORT) == {"200": misfiled}
    assert requests_to(portal, "/query/invoices/detail") == {"200": len(batch)}


async def test_an_export_unknown_in_both_families_fails_that_invoice(
    start_connector: StartConnector, proxy: TamperingProxy, portal: RunningSandbox
) -> None:
    connector = await start_connector(proxy.url)
    company = unlocked(portal)
    session_id = await connector.open(company)
    invoices = [i for i in await connector.list_all(session_id, SOLD, *MONTHS[1]) if i.has_original]
    unknown = str(invoices[1].key.number)
    proxy.rules[EXPORT] = lambda request, status, body: (
        web.json_response({"message": "Không tồn tại hóa đơn."}, status=500)
        if request.query["shdon"] == unknown
        else None
    )
    results = await connector.fetch(session_id, SOLD, invoices[:3])
    assert [r.HasField("error") for r in results] == [False, True, False]
    assert results[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "query and sco-query" in results[1].error.message
    assert requests_to(portal, EXPORT) == {"200": 3}  # the proxy replaced one of them
    assert requests_to(portal, SCO_EXPORT) == {"500": 1}
