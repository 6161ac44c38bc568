"""OpenSession knows which account the portal logged in and refuses one that is not the company
the session is for, before any session exists (so before any listing or download): the
real connector against a real sandbox portal and real Redis."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import grpc
import jwt
import pytest
from aiohttp import web
from redis.asyncio import Redis

from gdtmesh import reasons
from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.runtime.errors import ServiceError
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from services.gdt_connector import account
from tests.support.connector import TIMEOUT, Connector, StartConnector, TamperingProxy
from tests.support.connector import reasons as reasons_of
from tests.support.portal import LIST_PATH, requests_to

pytestmark = pytest.mark.timeout(60)

PROFILE = "/security-taxpayer/profile"
LOGIN = "/security-taxpayer/authenticate"
BRANCH = "0105927137-001"  # a demo account of the sandbox: a branch with its own login
OpenAs = Callable[..., Awaitable[gdt_connector_pb2.OpenSessionResponse]]


@pytest.fixture
def others(companies: list[Company], company: Company) -> list[Company]:
    """Unlocked companies other than `company`."""
    return [c for c in companies if not c.locked and c.mst != company.mst]


@pytest.fixture
def open_as(connector: Connector) -> OpenAs:
    async def open_session(
        login: Company, company_tax_code: str = ""
    ) -> gdt_connector_pb2.OpenSessionResponse:
        request = gdt_connector_pb2.OpenSessionRequest(
            username=login.mst, password=login.password, company_tax_code=company_tax_code
        )
        return await connector.stub.OpenSession(request, timeout=TIMEOUT)

    return open_session


async def sessions_in(redis: Redis) -> list[bytes]:
    return [key async for key in redis.scan_iter("gdtmesh:{connector}:session:*")]


def list_requests(portal: RunningSandbox) -> int:
    return sum(sum(requests_to(portal, path).values()) for path in LIST_PATH.values())


async def test_open_session_reports_the_account(open_as: OpenAs, company: Company) -> None:
    reply = await open_as(company)
    assert reply.account_tax_code == company.mst
    reply = await open_as(company, company.mst)  # its own company: accepted
    assert reply.session_id and reply.account_tax_code == company.mst


async def test_another_companys_account_is_refused_and_no_session_exists(
    open_as: OpenAs,
    portal: RunningSandbox,
    redis: Redis,
    company: Company,
    others: list[Company],
) -> None:
    other = others[0]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await open_as(other, company.mst)  # companies.json: company_id A, username B
    error = refused.value
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reasons_of(error) == [reasons.ACCOUNT_NOT_COMPANY]
    assert f"portal account {other.mst} is not company {company.mst}" in (error.details() or "")
    assert other.password not in (error.details() or "")
    assert await sessions_in(redis) == []  # no handle to list or download with
    assert list_requests(portal) == 0
    assert requests_to(portal, PROFILE) == {}  # the token's subject named the account


async def test_a_branch_logs_in_as_itself_and_is_not_its_parent(
    open_as: OpenAs, companies: list[Company]
) -> None:
    branch = next(c for c in companies if c.mst == BRANCH)
    reply = await open_as(branch, BRANCH)
    assert reply.account_tax_code == BRANCH
    parent = BRANCH.split("-")[0]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await open_as(branch, parent)
    assert reasons_of(refused.value) == [reasons.ACCOUNT_NOT_COMPANY]
    assert f"portal account {BRANCH} is not company {parent}" in (refused.value.details() or "")


def test_the_rule_is_the_exact_tax_code() -> None:
    account.check_company("0105927137-001", "0105927137-001")
    account.check_company("0105927137", "")  # no company asked for: not checked
    for logged_in, company in (
        ("0105927137", "0105927137-001"),  # a parent's account for its branch
        ("0105927137-001", "0105927137"),  # a branch's account for its parent
        ("0105927137-002", "0105927137-001"),  # a sister branch
    ):
        with pytest.raises(ServiceError) as refused:
            account.check_company(logged_in, company)
        assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert f"portal account {logged_in} is not company {company}" in refused.value.message


def test_token_subject() -> None:
    token = jwt.encode({"sub": BRANCH, "type": 2, "exp": 2**31}, "k" * 64, "HS512")
    assert account.token_subject(token) == BRANCH
    assert account.token_subject("not-a-jwt") is None
    no_code = jwt.encode({"sub": "someone", "exp": 2**31}, "k" * 64, "HS512")
    assert account.token_subject(no_code) is None


async def test_without_a_readable_subject_one_profile_request_per_login(
    monkeypatch: pytest.MonkeyPatch,
    open_as: OpenAs,
    portal: RunningSandbox,
    company: Company,
    others: list[Company],
) -> None:
    monkeypatch.setattr(account, "token_subject", lambda _token: None)
    reply = await open_as(company, company.mst)
    assert reply.account_tax_code == company.mst  # from the profile's `id`
    assert requests_to(portal, PROFILE) == {"200": 1}
    again = await open_as(company, company.mst)  # the live token is reused: no request
    assert again.account_tax_code == company.mst
    assert requests_to(portal, PROFILE) == {"200": 1}
    assert requests_to(portal, LOGIN) == {"200": 1}

    other = others[0]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await open_as(other, company.mst)
    assert reasons_of(refused.value) == [reasons.ACCOUNT_NOT_COMPANY]
    assert f"portal account {other.mst} is not company {company.mst}" in (
        refused.value.details() or ""
    )
    assert requests_to(portal, PROFILE) == {"200": 2}  # one for that login
    assert list_requests(portal) == 0


async def test_a_profile_without_a_tax_code_opens_no_session(
    monkeypatch: pytest.MonkeyPatch,
    start_connector: StartConnector,
    proxy: TamperingProxy,
    redis: Redis,
    company: Company,
) -> None:
    """Fail closed: when the portal does not say who logged in, nothing is read."""
    monkeypatch.setattr(account, "token_subject", lambda _token: None)

    def anonymous(_request: web.Request, status: int, body: bytes) -> web.Response:
        profile = json.loads(body)
        profile.pop("id")
        return web.json_response(profile, status=status)

    proxy.rules[PROFILE] = anonymous
    connector = await start_connector(proxy.url)
    request = gdt_connector_pb2.OpenSessionRequest(
        username=company.mst, password=company.password, company_tax_code=company.mst
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await connector.stub.OpenSession(request, timeout=TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reasons_of(refused.value) == [reasons.PORTAL_MALFORMED]
    assert await sessions_in(redis) == []


async def test_a_bad_company_tax_code_is_a_bad_request(open_as: OpenAs, company: Company) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await open_as(company, "not-a-tax-code")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
