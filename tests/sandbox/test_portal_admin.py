"""The `/_sandbox/` admin API: companies, truth, stats and run-time config with validation."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.app import RunningSandbox
from sandbox.dataset import FLOWS, Company

pytestmark = pytest.mark.timeout(30)


async def _get(session: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with session.get(url, params=params) as response:
        return response.status, await response.json()


async def _post(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    async with session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def test_companies_list_credentials_and_flows(
    portal: RunningSandbox, session: aiohttp.ClientSession, client: Any
) -> None:
    status, listing = await _get(session, f"{portal.url}/_sandbox/companies")
    assert status == 200 and len(listing) == len(portal.portal.dataset.companies())
    for entry in listing:
        assert set(entry) >= {"mst", "password", "name", "flows", "locked"}
        assert set(entry["flows"]) <= set(FLOWS)
    usable = next(entry for entry in listing if not entry["locked"])
    response = await client.authenticate(usable["mst"], usable["password"])
    assert response.status == 200


async def test_truth_validation(
    portal: RunningSandbox,
    session: aiohttp.ClientSession,
    company: Company,
    months: list[tuple[int, int]],
) -> None:
    url = f"{portal.url}/_sandbox/truth"
    year, month = months[0]
    good = {"company": company.mst, "flow": company.flows[0], "month": f"{year}-{month:02d}"}
    status, body = await _get(session, url, **good)
    assert status == 200 and body["count"] == len(body["invoices"])
    assert all(set(key) == {"nbmst", "khhdon", "shdon", "khmshdon"} for key in body["invoices"])
    for bad, expected in (
        ({"company": "0000000000"}, 404),
        ({"flow": "ban_ra"}, 400),
        ({"month": "2025-13"}, 400),
        ({"month": "last"}, 400),
    ):
        status, body = await _get(session, url, **{**good, **bad})
        assert status == expected and body["error"]


async def test_stats_count_and_reset(
    portal: RunningSandbox, client: Any, company: Company, session: aiohttp.ClientSession
) -> None:
    await client.login(company)
    await client.get("/query/invoices/detail")  # bad params: 500
    status, stats = await _get(session, f"{portal.url}/_sandbox/stats")
    assert stats["requests"]["/captcha"] == {"200": 1}
    assert stats["requests"]["/security-taxpayer/authenticate"] == {"200": 1}
    assert stats["requests"]["/query/invoices/detail"] == {"500": 1}
    assert stats["total"] == 3 and stats["throttled"] == 0 and stats["violations"] == 0
    status, stats = await _post(session, f"{portal.url}/_sandbox/stats/reset", {})
    assert status == 200 and stats["total"] == 0 and stats["requests"] == {}


async def test_config_round_trip_and_partial_update(
    portal: RunningSandbox, session: aiohttp.ClientSession
) -> None:
    url = f"{portal.url}/_sandbox/config"
    status, config = await _get(session, url)
    assert status == 200 and config["faults"]["hang"]["sco-list"] == 0
    status, same = await _post(session, url, config)  # what GET gives can be posted back
    assert status == 200 and same == config
    patch = {
        "faults": {"hang": {"sco-list": 0.25}, "error_5xx": 0.1},
        "latency": {"detail": {"median_ms": 5}},
        "rate_per_account": None,
        "retry_after": True,
    }
    status, updated = await _post(session, url, patch)
    assert status == 200
    assert updated["faults"]["hang"] == {**config["faults"]["hang"], "sco-list": 0.25}
    assert set(updated["faults"]["error_5xx"].values()) == {0.1}
    assert updated["latency"]["detail"] == {"median_ms": 5, "p99_ms": 80}
    assert updated["rate_per_account"] is None and updated["retry_after"] is True
    assert portal.portal.config.fault_rate("hang", "sco-list") == 0.25


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rate_per_account": -1}, "rate_per_account"),
        ({"rate_global": "fast"}, "rate_global"),
        ({"faults": {"hang": 2}}, "faults.hang"),
        ({"faults": {"hang": {"nowhere": 0.1}}}, "faults.hang.nowhere"),
        ({"faults": {"fire": 0.1}}, "faults.fire"),
        ({"latency": {"list": {"median_ms": 100, "p99_ms": 50}}}, "latency.list"),
        ({"latency": {"list": {"mean": 1}}}, "latency.list"),
        ({"retry_after": "yes"}, "retry_after"),
        ({"max_page_size": 0}, "max_page_size"),
        ({"bogus": 1}, "bogus"),
        ({"storm_seconds": -1}, "storm_seconds"),
        ({"dataset": {"companies": 1000}}, "dataset"),
        ({"latency_scale": float("inf")}, "latency_scale"),
        ([1, 2], "object"),
        ("{not json", "JSON"),
    ],
)
async def test_config_validation(
    portal: RunningSandbox, session: aiohttp.ClientSession, body: Any, field: str
) -> None:
    before = portal.portal.config
    if isinstance(body, dict) and body.get("latency_scale") == float("inf"):
        body = '{"latency_scale": Infinity}'
    status, error = await _post(session, f"{portal.url}/_sandbox/config", body)
    assert status == 400
    assert field in error["error"]
    assert portal.portal.config is before  # nothing half-applied


async def test_health_describes_dataset(
    portal: RunningSandbox, session: aiohttp.ClientSession
) -> None:
    status, body = await _get(session, f"{portal.url}/_sandbox/health")
    assert status == 200 and body["status"] == "ok"
    assert body["dataset"]["companies"] == portal.portal.dataset.spec.companies


async def test_revoke_and_lock_validation(
    portal: RunningSandbox, session: aiohttp.ClientSession, company: Company
) -> None:
    assert (await _post(session, f"{portal.url}/_sandbox/revoke", {"company": "x"}))[0] == 404
    assert (await _post(session, f"{portal.url}/_sandbox/lock", {"company": "x"}))[0] == 404
    body = {"company": company.mst, "locked": "yes"}
    assert (await _post(session, f"{portal.url}/_sandbox/lock", body))[0] == 400
