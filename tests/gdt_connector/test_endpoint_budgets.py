"""Budgets per account and endpoint class (list, detail, export-xml) on top of the account's and
the host's: against a sandbox that limits detail and export as the real portal's log shows (3
parallel downloads at the start drew 429s), and the Pacer on its own for the refusal."""

from __future__ import annotations

import itertools

import grpc
import pytest
from google.rpc import error_details_pb2
from redis.asyncio import Redis

from gdtmesh.flows import flow_by_code
from gdtmesh.runtime.errors import ServiceError
from sandbox.dataset import Company
from sandbox.settings import RECORDED_ENDPOINT_LIMITS
from services.gdt_connector.config import ConnectorConfig
from services.gdt_connector.pacing import Pacer
from tests.support.connector import StartConnector
from tests.support.portal import MONTHS, StartPortal, requests_to

pytestmark = pytest.mark.timeout(60)
SOLD = flow_by_code("ban_ra_dien_tu").flow
DETAIL, EXPORT = "/query/invoices/detail", "/query/invoices/export-xml"
# The sandbox as the recording: detail and export 2/s per account, 2 at once.
RECORDED = {name: limit.to_dict() for name, limit in RECORDED_ENDPOINT_LIMITS.items()}
# Under it: one at a time, 1.5/s.
BELOW = {
    "portal_detail_rate": 1.5,
    "portal_detail_burst": 1,
    "portal_export_rate": 1.5,
    "portal_export_burst": 1,
}
# Endpoint budgets no tighter than the account's (the connector before them).
ACCOUNTS_ONLY = {"portal_detail_burst": 0, "portal_export_burst": 0}


def unlocked(companies: list[Company]) -> Company:
    return next(c for c in companies if not c.locked)


@pytest.mark.parametrize(("budgets", "throttled"), [(ACCOUNTS_ONLY, True), (BELOW, False)])
async def test_parallel_downloads_at_the_start_stay_under_the_class_limits(
    start_portal: StartPortal,
    start_connector: StartConnector,
    budgets: dict[str, float],
    throttled: bool,
) -> None:
    # The account's own budgets (sandbox and connector) are generous: only a class can bind.
    portal = await start_portal(endpoint_limits=RECORDED, min_backoff_s=1)
    company = unlocked(list(portal.portal.dataset.companies()))
    connector = await start_connector(portal.url, portal_max_wait_seconds=30, **budgets)
    session = await connector.open(company)
    invoices = (await connector.list_all(session, SOLD, *MONTHS[1]))[:4]
    try:  # 4 downloads in flight (GDT_CONNECTOR_FETCH_CONCURRENCY)
        await connector.fetch(session, SOLD, invoices)
    except grpc.aio.AioRpcError as error:
        assert throttled, error
    stats = portal.portal.stats.to_dict()
    assert (stats["throttled"] > 0) == throttled, stats["refused"]


async def test_waiting_respects_the_tightest_budget_without_extra_requests(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(endpoint_limits={"detail": RECORDED["detail"]})
    company = unlocked(list(portal.portal.dataset.companies()))
    # The account allows 10/s and export 5/s: detail's 1.8/s binds (under the sandbox's 2/s).
    connector = await start_connector(
        portal.url,
        portal_account_rate=10.0,
        portal_account_burst=10,
        portal_detail_rate=1.8,
        portal_detail_burst=1,
        portal_export_rate=5.0,
        portal_export_burst=1,
        portal_max_wait_seconds=30,
    )
    session = await connector.open(company)
    invoices = (await connector.list_all(session, SOLD, *MONTHS[1]))[:8]
    portal.portal.stats.reset()
    answers = await connector.fetch(session, SOLD, invoices)
    assert len(answers) == 8 and not any(a.HasField("error") for a in answers)

    stats = portal.portal.stats.to_dict()
    assert stats["throttled"] == 0, stats["refused"]
    # The normal path: exactly one detail and one export per invoice, nothing else.
    assert stats["total"] == 16
    assert (requests_to(portal, DETAIL), requests_to(portal, EXPORT)) == ({"200": 8}, {"200": 8})
    # The details went at the detail budget's pace (1/1.8 s apart), not the account's (1/10).
    at = portal.portal.stats.answered_at(DETAIL)
    gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
    interval = 1 / 1.8
    assert min(gaps) / interval >= 0.8, gaps
    assert 0.9 <= (at[-1] - at[0]) / (len(at) - 1) / interval <= 1.6, gaps


# ---- the Pacer on its own -------------------------------------------------------------------


def pacer(redis: Redis, **budgets: float) -> Pacer:
    config = ConnectorConfig(portal_account_rate=100.0, portal_account_burst=5, **budgets)
    return Pacer(
        redis,
        host="classes.test",
        account_rate=config.portal_account_rate,
        account_burst=config.portal_account_burst,
        global_rate=100.0,
        max_wait_s=0.2,
        backoff_initial_s=1.0,
        backoff_max_s=4.0,
        endpoint_budgets=config.endpoint_budgets(),
    )


async def test_a_class_over_its_budget_is_refused_with_its_delay_while_others_pass(
    redis: Redis,
) -> None:
    limits = pacer(redis, portal_detail_rate=1.0, portal_detail_burst=1)
    account = "0100000901"
    assert await limits.admit(account, "detail") < 0.05  # the next host slot
    with pytest.raises(ServiceError) as raised:
        await limits.admit(account, "detail")  # its class's next moment: 1 s away
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    (info,) = [d for d in raised.value.details if isinstance(d, error_details_pb2.RetryInfo)]
    assert 0.8 <= info.retry_delay.ToTimedelta().total_seconds() <= 1.0
    assert "(detail)" in str(raised.value)
    # The account's and the other classes' budgets are untouched by the refusal.
    for endpoint in ("export_xml", "list", "login", "export_xml"):
        assert await limits.admit(account, endpoint) < 0.1
