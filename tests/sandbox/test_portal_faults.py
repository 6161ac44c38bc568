"""Limits and injected faults: 429s and the violations they prove, storms, 5xx, hangs, HTML
block pages, cut bodies and latency."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from typing import Any

import aiohttp
import pytest

from sandbox.app import RunningSandbox
from sandbox.dataset import Company, Dataset
from sandbox.faults import FaultInjector
from sandbox.settings import PortalConfig, apply_patch
from tests.support.portal import SANDBOX_SPEC, configure, portal_stats

pytestmark = pytest.mark.timeout(30)


async def test_account_rate_limit_and_violations(
    start_portal: Any, make_client: Any, company: Company, session: aiohttp.ClientSession
) -> None:
    portal = await start_portal(rate_per_account=2, burst_per_account=3, min_backoff_s=15)
    client = make_client(portal.api_url)
    await client.login(company)  # the login spends one of the account's tokens
    for _ in range(2):
        assert (await client.get("/security-taxpayer/profile")).status == 200
    throttled = await client.get("/security-taxpayer/profile")
    assert throttled.status == 429
    assert "Retry-After" not in throttled.headers  # the real portal never sends it
    assert (await client.get("/security-taxpayer/profile")).status == 429  # impatient
    await asyncio.sleep(0.6)  # the bucket has a token again, but 15 s have not passed
    assert (await client.get("/security-taxpayer/profile")).status == 200

    account = (await portal_stats(session, portal))["accounts"][company.mst]
    assert account["throttled"] == 2
    assert account["over_rate"] == 1 and account["during_backoff"] == 2
    assert account["violations"] == 3
    stats = await portal_stats(session, portal)
    assert stats["requests"]["/security-taxpayer/profile"] == {"200": 3, "429": 2}
    assert [v["kind"] for v in stats["violation_log"]] == [
        "over_rate",
        "during_backoff",
        "during_backoff",
    ]


async def test_retry_after_switch_and_polite_client(
    start_portal: Any, make_client: Any, company: Company, session: aiohttp.ClientSession
) -> None:
    portal = await start_portal(rate_per_account=1, burst_per_account=2, retry_after=True)
    client = make_client(portal.api_url)
    await client.login(company)
    assert (await client.get("/security-taxpayer/profile")).status == 200
    throttled = await client.get("/security-taxpayer/profile")
    assert throttled.status == 429
    wait = int(throttled.headers["Retry-After"])
    assert wait >= 1
    await asyncio.sleep(wait + 0.05)  # exactly what the portal asked for
    assert (await client.get("/security-taxpayer/profile")).status == 200
    account = (await portal_stats(session, portal))["accounts"][company.mst]
    assert account == {
        "requests": 4,
        "throttled": 1,
        "violations": 1,
        "during_backoff": 0,
        "over_rate": 1,
    }


async def test_global_rate_limit(start_portal: Any, make_client: Any) -> None:
    portal = await start_portal(rate_global=1, burst_global=2)
    client = make_client(portal.api_url)
    statuses = []
    for _ in range(3):
        async with client.session.get(f"{portal.api_url}/captcha") as response:
            statuses.append(response.status)
    assert statuses == [200, 200, 429]


async def test_storm(
    portal: RunningSandbox, client: Any, company: Company, session: aiohttp.ClientSession
) -> None:
    await client.login(company)
    await configure(session, portal, {"storm_seconds": 1})
    async with session.get(f"{portal.url}/_sandbox/config") as response:
        assert 0 < (await response.json())["storm_remaining_s"] <= 1
    assert (await client.get("/security-taxpayer/profile")).status == 429
    async with session.get(f"{portal.api_url}/captcha") as response:
        assert response.status == 429
    await asyncio.sleep(1.1)
    assert (await client.get("/security-taxpayer/profile")).status == 200


async def test_5xx_per_endpoint_class(
    start_portal: Any,
    make_client: Any,
    company: Company,
    months: list[tuple[int, int]],
    session: aiohttp.ClientSession,
) -> None:
    portal = await start_portal(faults={"error_5xx": {"list": 1.0}})
    client = make_client(portal.api_url)
    await client.login(company)  # login is another class: unaffected
    statuses = set()
    for _ in range(30):
        response = await client.list_page("ban_ra_dien_tu", client.month_search(*months[0]))
        statuses.add(response.status)
        if response.status == 500:
            assert {"message", "path", "requestId"} <= set(await response.json())
    assert statuses <= {500, 502, 503, 504} and len(statuses) > 1
    assert (await portal_stats(session, portal))["faults"] == {"error_5xx": 30}


async def test_hung_sco_list_needs_a_client_timeout(
    start_portal: Any,
    make_client: Any,
    company: Company,
    months: list[tuple[int, int]],
    session: aiohttp.ClientSession,
) -> None:
    portal = await start_portal(faults={"hang": {"sco-list": 1.0}})
    client = make_client(portal.api_url)
    await client.login(company)
    search = client.month_search(*months[0])
    assert (await client.list_page("ban_ra_dien_tu", search)).status == 200
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await client.session.get(
            f"{portal.api_url}/sco-query/invoices/sold",
            params={"sort": "tdlap:desc", "size": "50", "search": search},
            headers=client.headers(),
            timeout=aiohttp.ClientTimeout(total=0.5),
        )
    assert time.monotonic() - started < 2
    for _ in range(20):  # the sandbox notices the client left within a poll interval
        requests = (await portal_stats(session, portal))["requests"]
        if requests.get("/sco-query/invoices/sold") == {"hang": 1}:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"hang not recorded: {requests}")


async def test_html_block_page_with_status_200(
    start_portal: Any, make_client: Any, company: Company
) -> None:
    portal = await start_portal(faults={"html_block": {"detail": 1.0, "captcha": 1.0}})
    client = make_client(portal.api_url)
    async with client.session.get(f"{portal.api_url}/captcha") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert "Request Rejected" in await response.text()
    await configure(client.session, portal, {"faults": {"html_block": {"captcha": 0.0}}})
    await client.login(company)
    response = await client.get("/query/invoices/detail", nbmst="1", khhdon="C", shdon=1)
    assert response.status == 200 and response.content_type == "text/html"
    assert "Request Rejected" in await response.text()


async def test_cut_mid_body(
    start_portal: Any,
    make_client: Any,
    company: Company,
    months: list[tuple[int, int]],
    session: aiohttp.ClientSession,
) -> None:
    portal = await start_portal(faults={"cut_body": {"list": 1.0}})
    client = make_client(portal.api_url)
    await client.login(company)
    search = client.month_search(*months[0])
    with pytest.raises(aiohttp.ClientPayloadError):
        async with session.get(
            f"{portal.api_url}/query/invoices/sold",
            params={"sort": "tdlap:desc", "size": "50", "search": search},
            headers=client.headers(),
        ) as response:
            assert response.status == 200
            await response.read()
    requests = (await portal_stats(session, portal))["requests"]
    assert requests["/query/invoices/sold"] == {"cut": 1}


async def test_latency_is_applied_and_reported_in_time(
    start_portal: Any, make_client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    portal = await start_portal(
        latency_scale=1.0, latency={"list": {"median_ms": 200, "p99_ms": 200}}
    )
    client = make_client(portal.api_url)
    await client.login(company)
    started = time.monotonic()
    page = await (await client.list_page("ban_ra_dien_tu", client.month_search(*months[0]))).json()
    assert time.monotonic() - started >= 0.2
    assert page["time"] >= 200


def test_latency_distribution_matches_median_and_p99() -> None:
    config = apply_patch(
        PortalConfig(), {"latency": {"sco-list": {"median_ms": 150, "p99_ms": 2000}}}
    )
    injector = FaultInjector(random.Random(3))
    samples = sorted(injector.latency_s(config, "sco-list") * 1000 for _ in range(20000))
    assert statistics.median(samples) == pytest.approx(150, rel=0.05)
    assert samples[int(len(samples) * 0.99)] == pytest.approx(2000, rel=0.15)
    halved = apply_patch(config, {"latency_scale": 0.5})
    halved_samples = [injector.latency_s(halved, "sco-list") * 1000 for _ in range(20000)]
    assert statistics.median(halved_samples) == pytest.approx(75, rel=0.05)
    assert injector.latency_s(apply_patch(config, {"latency_scale": 0}), "sco-list") == 0


class _BrokenDataset(Dataset):
    def list_row(self, ref: Any) -> dict[str, Any]:
        raise RuntimeError("row generator bug")


async def test_a_sandbox_bug_is_a_500_and_serving_goes_on(
    start_portal: Any,
    make_client: Any,
    session: aiohttp.ClientSession,
    months: list[tuple[int, int]],
) -> None:
    portal = await start_portal(dataset=_BrokenDataset(SANDBOX_SPEC))
    client = make_client(portal.api_url)
    company = next(c for c in portal.portal.dataset.companies() if not c.locked)
    await client.login(company)
    statuses = set()
    for year, month in months:
        response = await client.list_page(company.flows[0], client.month_search(year, month))
        statuses.add(response.status)
        if response.status == 500:
            assert (await response.json())["path"] == "uri=/invoices/" + (
                "sold" if company.flows[0].startswith("ban_ra") else "purchase"
            )
    assert 500 in statuses
    assert (await client.get("/security-taxpayer/profile")).status == 200
    requests = (await portal_stats(session, portal))["requests"]
    assert sum(counts.get("500", 0) for counts in requests.values()) >= 1
