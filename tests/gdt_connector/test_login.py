"""OpenSession against the sandbox's login: captcha retries, wrong password, locked account."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from gdtmesh.runtime.errors import error_details
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from services.gdt_connector.captcha import CaptchaError, solve_captcha
from tests.support.connector import Connector, StartConnector
from tests.support.portal import StartPortal, requests_to

pytestmark = pytest.mark.timeout(30)
CAPTCHA = "/captcha"
LOGIN = "/security-taxpayer/authenticate"


def failing_first(times: int, failure: Callable[[str], str]) -> Callable[[str], str]:
    """A solver that answers with `failure` the first `times` captchas, then reads them."""
    calls = {"n": 0}

    def solve(svg: str) -> str:
        calls["n"] += 1
        return failure(svg) if calls["n"] <= times else solve_captcha(svg)

    return solve


def wrong_answer(svg: str) -> str:
    right = solve_captcha(svg)
    return "".join("2" if char != "2" else "3" for char in right)


def unreadable(_svg: str) -> str:
    raise CaptchaError("glyph 3 matches no character")


async def open_error(
    connector: Connector, company: Company, password: str | None = None
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await connector.open(company, password)
    return raised.value


def reasons(error: grpc.aio.AioRpcError) -> list[str]:
    return [getattr(detail, "reason", "") for detail in error_details(error)]


async def test_wrong_captcha_is_retried_with_a_fresh_one(
    start_connector: StartConnector, portal: RunningSandbox, company: Company
) -> None:
    connector = await start_connector(portal.url, solver=failing_first(2, wrong_answer))
    assert await connector.open(company)
    assert requests_to(portal, CAPTCHA) == {"200": 3}
    assert requests_to(portal, LOGIN) == {"401": 2, "200": 1}


async def test_legacy_wrong_captcha_answer_without_token(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    """The older portal answers a wrong captcha with 200, a message and no token."""
    portal = await start_portal(captcha_error_legacy=True)
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    connector = await start_connector(portal.url, solver=failing_first(1, wrong_answer))
    assert await connector.open(company)
    assert requests_to(portal, LOGIN) == {"200": 2}


async def test_unreadable_captcha_counts_as_an_attempt(
    start_connector: StartConnector, portal: RunningSandbox, company: Company
) -> None:
    connector = await start_connector(portal.url, solver=failing_first(1, unreadable))
    assert await connector.open(company)
    assert requests_to(portal, CAPTCHA) == {"200": 2}
    assert requests_to(portal, LOGIN) == {"200": 1}


async def test_captcha_attempts_are_bounded(
    start_connector: StartConnector, portal: RunningSandbox, company: Company
) -> None:
    connector = await start_connector(portal.url, solver=wrong_answer, portal_captcha_attempts=3)
    error = await open_error(connector, company)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "captcha" in (error.details() or "") and reasons(error) == ["CAPTCHA_FAILED"]
    assert requests_to(portal, CAPTCHA) == {"200": 3}
    assert requests_to(portal, LOGIN) == {"401": 3}


async def test_wrong_password_is_unauthenticated(
    connector: Connector, portal: RunningSandbox, company: Company
) -> None:
    password = "Wr0ng-Pa55word!"
    error = await open_error(connector, company, password)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    text = error.details() or ""
    assert company.mst in text and "password" in text and password not in text
    assert reasons(error) == ["LOGIN_REFUSED"]
    assert requests_to(portal, LOGIN) == {"401": 1}, "a wrong password is not retried"


async def test_locked_account_is_permission_denied(
    connector: Connector, portal: RunningSandbox, locked_company: Company
) -> None:
    error = await open_error(connector, locked_company)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    text = error.details() or ""
    assert "locked" in text and locked_company.mst in text
    assert locked_company.password not in text
    assert reasons(error) == ["ACCOUNT_LOCKED"]
    assert requests_to(portal, LOGIN) == {"401": 1}
