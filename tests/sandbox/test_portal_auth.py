"""Firewall header, captcha, login and bearer tokens behave as the real portal's."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import jwt
import pytest

from sandbox.app import RunningSandbox, portal_endpoints
from sandbox.dataset import Company

pytestmark = pytest.mark.timeout(30)

FIREWALL = {
    "status": 403,
    "message": "Hệ thống phát hiện hành vi không hợp lệ. Yêu cầu đã bị chặn.",
}
WRONG_CAPTCHA = {"message": "Mã captcha không đúng.", "path": "uri=/authenticate"}


@pytest.mark.parametrize("base", ["/api", ""])
async def test_every_call_but_captcha_needs_request_id(
    base: str,
    portal: RunningSandbox,
    client: Any,
    company: Company,
    session: aiohttp.ClientSession,
) -> None:
    await client.login(company)  # a valid token does not cure the 403
    for endpoint in portal_endpoints():
        url = f"{portal.url}{base}{endpoint.path}"
        headers = {"Authorization": f"Bearer {client.token}"}
        async with session.request(endpoint.method, url, headers=headers) as response:
            if endpoint.path == "/captcha":
                assert response.status == 200
            else:
                assert response.status == 403, endpoint.path
                assert await response.json() == FIREWALL


async def test_login_returns_portal_shaped_jwt(client: Any, company: Company) -> None:
    token = await client.login(company)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == company.mst and claims["type"] == 2
    assert claims["exp"] - claims["iat"] == 24 * 3600


async def test_wrong_captcha_is_checked_before_password(client: Any, company: Company) -> None:
    captcha = await client.captcha()
    response = await client.authenticate(company.mst, "not the password", "AAAAAA", captcha["key"])
    assert response.status == 401
    assert await response.json() == WRONG_CAPTCHA


async def test_wrong_captcha_legacy_mode_is_200_without_token(
    start_portal: Any, make_client: Any, company: Company
) -> None:
    portal = await start_portal(captcha_error_legacy=True)
    client = make_client(portal.api_url)
    response = await client.authenticate(company.mst, company.password, cvalue="AAAAAA")
    assert response.status == 200
    body = await response.json()
    assert "token" not in body and body["message"] == WRONG_CAPTCHA["message"]


async def test_captcha_is_single_use_case_insensitive_and_expires(
    start_portal: Any, make_client: Any, company: Company
) -> None:
    from services.gdt_connector.captcha.solver import solve_captcha

    portal = await start_portal(captcha_ttl_s=0.3)
    client = make_client(portal.api_url)
    captcha = await client.captcha()
    answer = solve_captcha(captcha["content"]).lower()
    first = await client.authenticate(company.mst, company.password, answer, captcha["key"])
    assert first.status == 200 and "token" in await first.json()
    replay = await client.authenticate(company.mst, company.password, answer, captcha["key"])
    assert replay.status == 401 and await replay.json() == WRONG_CAPTCHA
    stale = await client.captcha()
    await asyncio.sleep(0.5)
    late = await client.authenticate(
        company.mst, company.password, solve_captcha(stale["content"]), stale["key"]
    )
    assert late.status == 401 and await late.json() == WRONG_CAPTCHA


async def test_wrong_password_and_unknown_user(client: Any, company: Company) -> None:
    for username, password in ((company.mst, company.password + "x"), ("0000000000", "x")):
        response = await client.authenticate(username, password)
        assert response.status == 401
        message = (await response.json())["message"]
        assert "mật khẩu" in message and "captcha" not in message


async def test_locked_account(
    client: Any,
    companies: list[Company],
    company: Company,
    session: aiohttp.ClientSession,
    portal: RunningSandbox,
) -> None:
    locked = [c for c in companies if c.locked]
    assert locked, "the demo data set has a locked account"
    response = await client.authenticate(locked[0].mst, locked[0].password)
    assert response.status == 401
    message = (await response.json())["message"]
    assert "khoá" in message or "locked" in message.lower()

    await client.login(company)
    async with session.post(
        f"{portal.url}/_sandbox/lock", json={"company": company.mst, "locked": True}
    ) as admin:
        assert admin.status == 200
    assert (await client.get("/security-taxpayer/profile")).status == 401  # sessions end
    assert (await client.authenticate(company.mst, company.password)).status == 401
    async with session.post(
        f"{portal.url}/_sandbox/lock", json={"company": company.mst, "locked": False}
    ) as admin:
        assert admin.status == 200
    await client.login(company)


async def test_401_without_or_with_bad_token(client: Any, company: Company) -> None:
    search = client.month_search(2025, 1)
    assert (await client.list_page("ban_ra_dien_tu", search)).status == 401
    client.token = "garbage"
    assert (await client.list_page("ban_ra_dien_tu", search)).status == 401
    forged = jwt.encode({"sub": company.mst, "type": 2, "exp": 2**31}, "x" * 64, "HS512")
    client.token = forged
    assert (await client.get("/security-taxpayer/profile")).status == 401


async def test_expired_token(start_portal: Any, make_client: Any, company: Company) -> None:
    portal = await start_portal(token_lifetime_s=1)
    client = make_client(portal.api_url)
    await client.login(company)
    assert (await client.get("/security-taxpayer/profile")).status == 200
    await asyncio.sleep(2.1)
    assert (await client.get("/security-taxpayer/profile")).status == 401


async def test_revocation_per_account_and_all(
    portal: RunningSandbox,
    make_client: Any,
    companies: list[Company],
    session: aiohttp.ClientSession,
) -> None:
    first, second = [c for c in companies if not c.locked][:2]
    a, b = make_client(portal.api_url), make_client(portal.api_url)
    await a.login(first)
    await b.login(second)
    revoke = f"{portal.url}/_sandbox/revoke"
    async with session.post(revoke, json={"company": first.mst}) as response:
        assert (await response.json())["revoked"] == 1
    assert (await a.get("/security-taxpayer/profile")).status == 401
    assert (await b.get("/security-taxpayer/profile")).status == 200
    await a.login(first)  # logging in again gives a working token
    assert (await a.get("/security-taxpayer/profile")).status == 200
    async with session.post(revoke) as response:
        assert (await response.json())["revoked"] == 2
    for client in (a, b):
        assert (await client.get("/security-taxpayer/profile")).status == 401


async def test_concurrent_tokens_are_allowed(
    portal: RunningSandbox, make_client: Any, company: Company
) -> None:
    a, b = make_client(portal.api_url), make_client(portal.legacy_url or portal.url)
    await a.login(company)
    await asyncio.sleep(1.05)  # a different iat, so a different token
    await b.login(company)
    assert a.token != b.token
    for client in (a, b):
        assert (await client.get("/security-taxpayer/profile")).status == 200
