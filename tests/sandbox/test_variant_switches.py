"""The sandbox's switches for where crawlers' recordings of the real portal disagree
(gdt-portal.md, "Added 2026-12"): each set at start (flags) and at run time (/_sandbox/config),
and what the portal then answers."""

from __future__ import annotations

import base64
import struct
import uuid
import zlib
from typing import Any

import aiohttp
import pytest

from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from sandbox.settings import config_from_flags, flags_parser
from tests.support.portal import PortalClient, StartPortal, configure

PROFILE = "/security-taxpayer/profile"
SWITCHES = {
    "request_id_required": True,
    "sco_errors_request_id": True,
    "block_page": "request-rejected",
    "throttle_answer": "429",
    "login_token_key": "token",
    "login_token_bearer": False,
    "captcha_format": "svg",
    "misfiled_xml_rate": 0.0,
}


def test_every_switch_is_a_flag() -> None:
    assert {
        name: getattr(config_from_flags(flags_parser().parse_args([])).settings.config, name)
        for name in SWITCHES
    } == SWITCHES
    args = flags_parser().parse_args(
        [
            "--request-id-optional",
            "--sco-errors-without-request-id",
            "--block-page=cant-display",
            "--throttle-answer=message",
            "--login-token-key=access_token",
            "--login-token-bearer",
            "--captcha-format=png",
            "--misfiled-xml-rate=0.25",
        ]
    )
    config = config_from_flags(args).settings.config
    assert {name: getattr(config, name) for name in SWITCHES} == {
        "request_id_required": False,
        "sco_errors_request_id": False,
        "block_page": "cant-display",
        "throttle_answer": "message",
        "login_token_key": "access_token",
        "login_token_bearer": True,
        "captcha_format": "png",
        "misfiled_xml_rate": 0.25,
    }


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"block_page": "nginx"}, "block_page"),
        ({"throttle_answer": 429}, "throttle_answer"),
        ({"login_token_key": "jwt"}, "login_token_key"),
        ({"captcha_format": "gif"}, "captcha_format"),
        ({"misfiled_xml_rate": 1.5}, "misfiled_xml_rate"),
        ({"request_id_required": "no"}, "request_id_required"),
    ],
)
async def test_a_bad_switch_value_is_refused_by_name(
    patch: dict[str, Any], field: str, portal: RunningSandbox, session: aiohttp.ClientSession
) -> None:
    async with session.post(f"{portal.url}/_sandbox/config", json=patch) as response:
        assert response.status == 400
        assert (await response.json())["error"].startswith(f"{field}:")


# ---- request-id --------------------------------------------------------------------------------


async def test_request_id_switch(
    client: PortalClient, portal: RunningSandbox, session: aiohttp.ClientSession, company: Company
) -> None:
    await client.login(company)
    bearer = {"Authorization": f"Bearer {client.token}"}
    async with session.get(portal.api_url + PROFILE, headers=bearer) as response:
        assert response.status == 403
    assert (await configure(session, portal, {"request_id_required": False}))[
        "request_id_required"
    ] is False
    async with session.get(portal.api_url + PROFILE, headers=bearer) as response:
        assert response.status == 200
    async with session.get(portal.url + PROFILE, headers=bearer) as response:  # legacy base
        assert response.status == 200


# ---- error bodies ------------------------------------------------------------------------------


async def test_request_id_of_an_error_is_the_servers_own(
    client: PortalClient, company: Company
) -> None:
    await client.login(company)
    headers = client.headers()
    response = await client.session.get(
        f"{client.base}/query/invoices/detail", params={"khmshdon": "x"}, headers=headers
    )
    body = await response.json()
    assert response.status == 500
    assert str(uuid.UUID(body["requestId"])) == body["requestId"]
    assert body["requestId"] != headers["request-id"]


async def test_sco_errors_request_id_switch(
    client: PortalClient, portal: RunningSandbox, session: aiohttp.ClientSession, company: Company
) -> None:
    await client.login(company)
    params = {"nbmst": company.mst, "khhdon": "C26MAA", "shdon": "1", "khmshdon": "1"}
    await configure(session, portal, {"sco_errors_request_id": False})
    sco = await (await client.get("/sco-query/invoices/detail", **params)).json()
    assert sco["message"] == "Không tồn tại hóa đơn."
    assert set(sco) == {"timestamp", "message", "details", "path"}
    query = await (await client.get("/query/invoices/detail", **params)).json()
    assert "requestId" in query
    await configure(session, portal, {"sco_errors_request_id": True})
    assert "requestId" in await (await client.get("/sco-query/invoices/detail", **params)).json()


# ---- block pages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "charset", "texts"),
    [
        ("request-rejected", "utf-8", ("Request Rejected", "Your support ID is: ")),
        ("cant-display", "UTF-8", ("This page can't be displayed", "The incident ID is: ")),
    ],
)
async def test_block_page_switch(
    form: str,
    charset: str,
    texts: tuple[str, ...],
    start_portal: StartPortal,
    make_client: Any,
    company: Company,
) -> None:
    portal = await start_portal(block_page=form, faults={"html_block": {"profile": 1.0}})
    client = make_client(portal.api_url)
    await client.login(company)
    response = await client.get(PROFILE)
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == charset
    page = await response.text()
    assert all(text in page for text in texts)


# ---- throttling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        ("429", 429, "Too Many Requests"),
        ("503", 503, "Service Unavailable"),
        ("message", 200, "Quá nhiều yêu cầu, vui lòng thử lại sau (too many requests)."),
    ],
)
@pytest.mark.parametrize("retry_after", [False, True])
async def test_throttle_answer_switch(
    answer: str,
    status: int,
    message: str,
    retry_after: bool,
    start_portal: StartPortal,
    session: aiohttp.ClientSession,
) -> None:
    portal = await start_portal(throttle_answer=answer, retry_after=retry_after)
    await configure(session, portal, {"storm_seconds": 30})
    async with session.get(f"{portal.api_url}/captcha") as response:
        assert response.status == status
        assert await response.json() == {
            "status": 429 if status != 503 else 503,
            "message": message,
        }
        assert ("Retry-After" in response.headers) is retry_after
    assert portal.portal.stats.to_dict()["throttled"] == 1, "counted as a 429 whatever the form"


# ---- login token and captcha -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["token", "access_token", "Token"])
@pytest.mark.parametrize("bearer", [False, True])
async def test_login_token_switches(
    key: str, bearer: bool, start_portal: StartPortal, make_client: Any, company: Company
) -> None:
    portal = await start_portal(login_token_key=key, login_token_bearer=bearer)
    client = make_client(portal.api_url)
    response = await client.authenticate(company.mst, company.password)
    body = await response.json()
    assert response.status == 200 and list(body) == [key]
    assert body[key].startswith("Bearer ey") is bearer
    client.token = body[key].removeprefix("Bearer ")
    assert (await client.get(PROFILE)).status == 200


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + payload), kind
        chunks.append((kind, payload))
        at += 12 + length
    return chunks


async def test_captcha_format_switch(
    client: PortalClient, portal: RunningSandbox, session: aiohttp.ClientSession
) -> None:
    assert (await client.captcha())["content"].startswith("<svg")
    await configure(session, portal, {"captcha_format": "png"})
    captcha = await client.captcha()
    prefix = "data:image/png;base64,"
    assert captcha["content"].startswith(prefix) and len(captcha["key"]) == 24
    chunks = png_chunks(base64.b64decode(captcha["content"][len(prefix) :], validate=True))
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (200, 40, 8, 0)
    rows = zlib.decompress(chunks[1][1])
    assert len(rows) == height * (1 + width) and rows[:: 1 + width] == bytes(height)


# ---- invoices under the other family -----------------------------------------------------------


async def test_misfiled_xml_switch(
    client: PortalClient, portal: RunningSandbox, session: aiohttp.ClientSession, company: Company
) -> None:
    await client.login(company)
    flow = "ban_ra_dien_tu"
    dataset = portal.portal.dataset
    refs = [
        ref
        for ref in dataset.refs(
            company.mst, flow, dataset.period_start, dataset.today, portal.portal.now()
        )
        if ref.has_original
    ][:40]
    await configure(session, portal, {"misfiled_xml_rate": 0.3})
    misfiled = [ref for ref in refs if portal.portal.misfiled(ref)]
    assert 0 < len(misfiled) < len(refs)
    moved, kept = misfiled[0], next(ref for ref in refs if not portal.portal.misfiled(ref))
    for ref, own, other in ((moved, 500, 200), (kept, 200, 500)):
        key = ref.key()
        export = await client.get("/query/invoices/export-xml", **key)
        assert export.status == own
        if own == 500:
            assert (await export.json())["message"] == "Không tồn tại hóa đơn."
        assert (await client.get("/sco-query/invoices/export-xml", **key)).status == other
        assert (await client.get("/query/invoices/detail", **key)).status == 200
        assert (await client.get("/sco-query/invoices/detail", **key)).status == 500
    await configure(session, portal, {"misfiled_xml_rate": 0})
    assert (await client.get("/query/invoices/export-xml", **moved.key())).status == 200
    assert (await client.get("/sco-query/invoices/export-xml", **moved.key())).status == 500
