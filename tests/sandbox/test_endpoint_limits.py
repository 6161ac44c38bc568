"""Rate limits per account and endpoint class (list, detail, export), as a crawler's log of the
real portal shows them: 3 parallel downloads at the start drew 429s while lists answered 200."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from sandbox.dataset import FAMILY, Company
from sandbox.settings import (
    RECORDED_ENDPOINT_LIMITS,
    ConfigError,
    Limit,
    PortalConfig,
    apply_patch,
    config_from_flags,
    flags_parser,
)
from tests.support.portal import PortalClient, portal_stats

pytestmark = pytest.mark.timeout(30)
FLOW = "ban_ra_dien_tu"
DETAIL = f"/{FAMILY[FLOW]}/invoices/detail"
RECORDED = {name: limit.to_dict() for name, limit in RECORDED_ENDPOINT_LIMITS.items()}


async def key_of_first(client: PortalClient, months: list[tuple[int, int]]) -> dict[str, Any]:
    rows = await client.list_all(FLOW, PortalClient.month_search(*months[1]))
    return {k: rows[0][k] for k in ("nbmst", "khhdon", "shdon", "khmshdon")}


async def test_an_endpoint_class_limit_refuses_while_the_other_classes_pass(
    start_portal: Any,
    make_client: Any,
    company: Company,
    months: list[tuple[int, int]],
    session: aiohttp.ClientSession,
) -> None:
    # The account's own bucket is far from empty: only the detail class's can refuse.
    portal = await start_portal(endpoint_limits=RECORDED, min_backoff_s=0)
    client = make_client(portal.api_url)
    await client.login(company)
    key = await key_of_first(client, months)

    # 3 parallel detail calls at the start: the class's bucket holds 2.
    details = await asyncio.gather(*(client.detail(FLOW, key) for _ in range(3)))
    assert sorted(response.status for response in details) == [200, 200, 429]
    # Meanwhile the other classes pass: lists, and the export of the same invoice.
    assert (await client.list_page(FLOW, PortalClient.month_search(*months[1]))).status == 200
    assert (await client.detail(FLOW, key, "export-xml")).status == 200
    assert (await client.detail(FLOW, key)).status == 429  # detail still over its rate

    stats = await portal_stats(session, portal)
    assert stats["refused"] == {"detail": 2}
    assert stats["requests"][DETAIL] == {"200": 2, "429": 2}
    over = [v for v in stats["violation_log"] if v["kind"] == "over_rate"]
    assert [(v["endpoint"], v["limit"]) for v in over] == [(DETAIL, "detail")] * 2
    assert stats["accounts"][company.mst]["over_rate"] == 2

    await asyncio.sleep(0.55)  # 2 per second: a token again
    assert (await client.detail(FLOW, key)).status == 200


async def test_the_account_and_global_limits_still_name_themselves(
    start_portal: Any, make_client: Any, company: Company, session: aiohttp.ClientSession
) -> None:
    portal = await start_portal(
        rate_per_account=1, burst_per_account=2, endpoint_limits={"list": {"rate": 100}}
    )
    client = make_client(portal.api_url)
    await client.login(company)  # one of the account's 2
    assert (await client.get("/security-taxpayer/profile")).status == 200
    assert (await client.get("/security-taxpayer/profile")).status == 429
    stats = await portal_stats(session, portal)
    assert stats["refused"] == {"account": 1}
    assert stats["violation_log"][-1]["limit"] == "account"


def test_limits_per_class_from_flags_and_the_admin_shape() -> None:
    args = ["--endpoint-limit", "detail=2", "--endpoint-limit", "export=3:4"]
    config = config_from_flags(flags_parser().parse_args(args)).settings.config
    assert config.endpoint_limits["detail"] == RECORDED_ENDPOINT_LIMITS["detail"]
    assert config.endpoint_limits["export"] == Limit(3.0, 4.0)
    assert config.endpoint_limits["list"] == Limit(None, 2.0)
    # The GET view posts back unchanged; a patch changes one class, partially.
    assert apply_patch(PortalConfig(), config.to_dict()) == config
    patched = apply_patch(config, {"endpoint_limits": {"export": {"rate": None}}})
    assert patched.endpoint_limits["export"] == Limit(None, 4.0)
    assert patched.endpoint_limits["detail"] == config.endpoint_limits["detail"]


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"endpoint_limits": {"xml": {"rate": 1}}}, "endpoint_limits.xml"),
        ({"endpoint_limits": {"detail": {"rate": 0}}}, "endpoint_limits.detail.rate"),
        ({"endpoint_limits": {"detail": {"rate": 1, "burst": 0.5}}}, "endpoint_limits.detail"),
        ({"endpoint_limits": {"detail": 2}}, "endpoint_limits.detail"),
    ],
)
def test_bad_class_limits_are_named(patch: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        apply_patch(PortalConfig(), patch)
