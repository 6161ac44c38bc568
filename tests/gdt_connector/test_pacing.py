"""Pacing, backoff and logins shared by connector replicas through one Redis: two connector
instances against one sandbox, and the Pacer on its own for the exact numbers."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from redis.asyncio import Redis

from gdtmesh.flows import flow_by_code
from gdtmesh.runtime.errors import ServiceError, retry_delay
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from services.gdt_connector.pacing import Pacer
from tests.support.connector import Connector, StartConnector, reasons
from tests.support.portal import MONTHS, StartPortal, requests_to

pytestmark = pytest.mark.timeout(60)
LOGIN = "/security-taxpayer/authenticate"
SOLD = flow_by_code("ban_ra_dien_tu").flow
PURCHASE = flow_by_code("mua_vao_dien_tu").flow


def unlocked(portal: RunningSandbox) -> list[Company]:
    return [c for c in portal.portal.dataset.companies() if not c.locked]


async def two_connectors(start: StartConnector, url: str, **config: float) -> list[Connector]:
    return [await start(url, **config), await start(url, **config)]


async def test_replicas_share_the_account_budget(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    # The sandbox enforces exactly the budget the connectors are given: one request over it
    # would be a 429 and an over-rate violation.
    portal = await start_portal(rate_per_account=10, burst_per_account=2, min_backoff_s=1)
    company = unlocked(portal)[0]
    replicas = await two_connectors(
        start_connector,
        portal.url,
        portal_account_rate=10,
        portal_account_burst=2,
        portal_max_wait_seconds=30,
    )
    sessions = [await replica.open(company) for replica in replicas]
    invoices = await replicas[0].list_all(sessions[0], SOLD, *MONTHS[1])
    started = time.monotonic()
    await asyncio.gather(
        *(
            replica.fetch(session, SOLD, invoices[index * 5 : index * 5 + 5])
            for index, (replica, session) in enumerate(zip(replicas, sessions, strict=True))
        )
    )
    elapsed = time.monotonic() - started
    stats = portal.portal.stats.to_dict()
    sent = stats["accounts"][company.mst]["requests"]
    assert stats["throttled"] == 0 and stats["violations"] == 0, stats["violation_log"]
    assert requests_to(portal, LOGIN) == {"200": 1}, "the second replica reuses the token"
    # 20 downloads (detail + XML) at 10/s: the shared budget spaced them out.
    assert sent >= 20 + 3 and elapsed >= (20 - 2) / 10 * 0.9, (sent, elapsed)


async def test_a_long_wait_is_refused_not_slept_on(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal()
    company = unlocked(portal)[0]
    replicas = await two_connectors(
        start_connector,
        portal.url,
        portal_account_rate=2,
        portal_account_burst=2,
        portal_max_wait_seconds=0.3,
    )
    session = await replicas[0].open(company)  # captcha + login use the burst
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await replicas[1].list_all(session, SOLD, *MONTHS[0])
    error = raised.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reasons(error) == ["RATE_LIMITED"]
    delay = retry_delay(error)
    assert delay is not None and 0.2 <= delay.total_seconds() <= 0.55
    assert "/query/invoices/sold" not in portal.portal.stats.to_dict()["requests"]
    await asyncio.sleep(delay.total_seconds())
    assert await replicas[1].list_all(session, SOLD, *MONTHS[0])


async def test_a_429_on_one_replica_holds_back_the_other(
    start_portal: StartPortal, start_connector: StartConnector, redis: Redis
) -> None:
    portal = await start_portal(rate_per_account=3, burst_per_account=3, min_backoff_s=2)
    first, other = unlocked(portal)[:2]
    replicas = await two_connectors(start_connector, portal.url, portal_backoff_initial_seconds=2.0)
    session = await replicas[0].open(first)
    other_session = await replicas[1].open(other)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await replicas[0].list_all(session, PURCHASE, *MONTHS[1])
    assert reasons(raised.value) == ["PORTAL_THROTTLED"]

    sent = portal.portal.stats.to_dict()["total"]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await replicas[1].list_all(session, SOLD, *MONTHS[1])
    assert reasons(raised.value) == ["PORTAL_BACKOFF"]
    assert portal.portal.stats.to_dict()["total"] == sent, "a blocked account reached the portal"
    # Other accounts go on (at a reduced global rate while the block lasts).
    assert await replicas[1].list_all(other_session, SOLD, *MONTHS[1])
    assert await redis.exists(f"gdtmesh:{{connector}}:slow:{replicas[0].config.portal_host}")
    assert portal.portal.stats.to_dict()["accounts"][first.mst]["during_backoff"] == 0


async def test_replicas_log_in_once_for_an_account(
    start_connector: StartConnector, portal: RunningSandbox, company: Company
) -> None:
    replicas = await two_connectors(start_connector, portal.url)
    opened = await asyncio.gather(*(replica.open(company) for replica in replicas * 4))
    assert len(set(opened)) == 8
    assert requests_to(portal, LOGIN) == {"200": 1}
    assert requests_to(portal, "/captcha") == {"200": 1}

    # A revoked token: both replicas hit a 401 at once, one of them logs in again.
    portal.portal.tokens.revoke(company.mst)
    await asyncio.gather(
        replicas[0].list_all(opened[0], SOLD, *MONTHS[0]),
        replicas[1].list_all(opened[1], PURCHASE, *MONTHS[0]),
    )
    assert requests_to(portal, LOGIN) == {"200": 2}


async def test_a_token_is_renewed_before_it_expires(
    start_portal: StartPortal, start_connector: StartConnector
) -> None:
    portal = await start_portal(token_lifetime_s=3)
    company = unlocked(portal)[0]
    connector = await start_connector(portal.url)
    session = await connector.open(company)
    await connector.list_all(session, SOLD, *MONTHS[0])
    await asyncio.sleep(2.5)  # within the last quarter of the token's life
    await connector.list_all(session, SOLD, *MONTHS[0])
    assert requests_to(portal, LOGIN) == {"200": 2}
    assert "401" not in requests_to(portal, "/query/invoices/sold")


# ---- the Pacer on its own -------------------------------------------------------------------


def pacer(redis: Redis, host: str = "portal.test", **settings: float) -> Pacer:
    values = {
        "account_rate": 100.0,
        "account_burst": 1,
        "global_rate": 100.0,
        "max_wait_s": 5.0,
        "backoff_initial_s": 1.0,
        "backoff_max_s": 4.0,
        **settings,
    }
    return Pacer(redis, host=host, **values)  # type: ignore[arg-type]


async def test_backoff_doubles_per_429_in_a_row_and_honours_retry_after(redis: Redis) -> None:
    limits = pacer(redis)
    account = "0100000001"
    # 429s of requests that were in flight together extend the block; they are one strike.
    in_flight = [await limits.throttled(account, None) for _ in range(3)]
    assert [round(d) for d in in_flight] == [1, 1, 1]
    delays = []
    for _ in range(3):  # each 429 after a block has ended doubles the next one
        await asyncio.sleep(await limits.blocked_for(account) + 0.01)
        delays.append(await limits.throttled(account, None))
    assert [round(d) for d in delays] == [2, 4, 4]
    assert await limits.throttled("0100000002", 7.0) == pytest.approx(7.0, abs=0.01)
    assert 6.5 < await limits.blocked_for("0100000002") <= 7.0
    with pytest.raises(ServiceError) as raised:
        await limits.admit("0100000002")
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_after_a_block_the_account_resumes_at_its_rate_not_in_a_burst(
    redis: Redis,
) -> None:
    limits = pacer(redis, account_rate=4.0, account_burst=4, backoff_initial_s=0.5)
    account = "0100000003"
    await limits.throttled(account, None)
    await asyncio.sleep(await limits.blocked_for(account) + 0.01)
    waits = [await limits.admit(account) for _ in range(3)]
    assert waits[0] < 0.05  # the first request goes as soon as the block ends
    assert all(0.15 < wait <= 0.3 for wait in waits[1:])  # then one every 1/4 s


async def test_a_request_that_slept_for_its_slot_is_stopped_by_a_new_block(
    redis: Redis,
) -> None:
    limits = pacer(redis, account_rate=2.0, account_burst=1)
    account = "0100000004"
    await limits.admit(account)
    sleeper = asyncio.create_task(limits.admit(account))  # waits ~0.5 s for its slot
    await asyncio.sleep(0.1)
    await limits.throttled(account, None)  # a sibling met a 429 meanwhile
    with pytest.raises(ServiceError) as raised:
        await sleeper
    assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_gcra_spacing_and_the_global_slowdown(redis: Redis) -> None:
    limits = pacer(redis, global_rate=20.0)

    async def spacing(accounts: list[str]) -> float:
        started = time.monotonic()
        for account in accounts:
            await limits.admit(account)
        return (time.monotonic() - started) / (len(accounts) - 1)

    # Different accounts: only the global budget (20/s) spaces them.
    assert spacing_ok(await spacing([f"01000000{n:02d}" for n in range(6)]), 0.05)
    await limits.throttled("0199999999", None)  # a 429 anywhere halves the global rate
    assert spacing_ok(await spacing([f"01000001{n:02d}" for n in range(6)]), 0.10)


def spacing_ok(measured: float, expected: float) -> bool:
    return expected * 0.8 <= measured <= expected * 1.6


async def test_a_request_waiting_for_its_account_leaves_the_host_budget_to_others(
    redis: Redis,
) -> None:
    limits = pacer(redis, account_rate=1.0, global_rate=20.0)
    await limits.admit("0100000201")
    slow = asyncio.create_task(limits.admit("0100000201"))  # its account's next slot: ~1 s
    await asyncio.sleep(0.05)

    # The host slots before that moment stay usable by the other accounts (a single host
    # arrival time would have jumped to it and made them all wait a second).
    started = time.monotonic()
    for n in range(8):
        await limits.admit(f"01000003{n:02d}")
    assert time.monotonic() - started < 0.7
    assert 0.8 < await slow <= 1.0


async def test_the_host_gets_a_smooth_stream_under_contention(redis: Redis) -> None:
    rate = 50.0
    limits = pacer(redis, "smooth.test", account_rate=10.0, account_burst=2, global_rate=rate)
    base = time.monotonic()

    async def send(account: str) -> float:
        await limits.admit(account)  # sleeps until its moment
        return time.monotonic() - base

    accounts = [f"01000004{n:02d}" for n in range(30)]
    moments = sorted(await asyncio.gather(*(send(a) for a in accounts * 3)))
    # No burst towards the host: n requests in any window of length T need n <= 1 + rate * T
    # (two more allowed for the event loop waking sleepers a few ms late) ...
    for i, first in enumerate(moments):
        for j in range(i + 3, len(moments)):
            assert j - i + 1 <= 1 + rate * (moments[j] - first) + 2, (i, j)
    # ... and the budget was used, not wasted: the last went about when the rate allows.
    assert (len(moments) - 2) / rate * 0.9 <= moments[-1] <= len(moments) / rate + 0.5
