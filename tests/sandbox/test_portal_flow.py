"""The whole crawl, as the real portal's crawlers do it, over both bases: captcha -> login ->
every flow and month page by page with `state` -> detail -> export-xml; it finds exactly the
invoices the sandbox's ground truth lists."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from sandbox.app import RunningSandbox
from sandbox.dataset import FAMILY, Company
from tests.support.portal import configure, truth

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("base", ["api", "legacy"])
async def test_crawl_covers_truth_exactly(
    base: str,
    start_portal: Any,
    make_client: Any,
    session: aiohttp.ClientSession,
    companies: list[Company],
    months: list[tuple[int, int]],
) -> None:
    portal = await start_portal(legacy_port=0 if base == "legacy" else None)
    client = make_client(portal.api_url if base == "api" else portal.legacy_url)
    seen_rows = 0
    for company in (c for c in companies if not c.locked):
        await client.login(company)
        for flow in company.flows:
            for year, month in months:
                expected = await truth(session, portal, company.mst, flow, year, month)
                rows = await client.list_all(flow, client.month_search(year, month), size=17)
                keys = [client.key_of(row) for row in rows]
                assert len(keys) == len(set(keys)), "a page repeated a row"
                assert sorted(keys) == sorted(expected), (company.mst, flow, year, month)
                if FAMILY[flow] == "sco-query":
                    assert {row["ttxly"] for row in rows} <= {8}
                seen_rows += len(rows)
    assert seen_rows > 0


async def test_pages_follow_sort_and_total(
    client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    await client.login(company)
    flow = company.flows[0]
    for year, month in months:
        search = client.month_search(year, month)
        first = await (await client.list_page(flow, search, size=5)).json()
        if first["total"] > 5:
            break
    else:
        pytest.skip("no month with more than one page")
    assert len(first["datas"]) == 5 and isinstance(first["state"], str)
    int(first["state"], 16)  # hex, like the real portal's
    rows = await client.list_all(flow, search, size=5)
    assert len(rows) == first["total"]
    issued = [row["tdlap"] for row in rows]
    assert issued == sorted(issued, reverse=True)
    ascending = await client.list_all(flow, search, size=7, sort="tdlap:asc")
    assert [r["tdlap"] for r in ascending] == sorted(issued)
    assert sorted(map(client.key_of, ascending)) == sorted(map(client.key_of, rows))


async def test_detail_and_export_xml(
    client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    await client.login(company)
    checked_xml = checked_missing = 0
    for flow in company.flows:
        for year, month in months:
            rows = await client.list_all(flow, client.month_search(year, month))
            for row in rows[:3] + [r for r in rows if r.get("hsgoc") is None][:1]:
                key = {name: row[name] for name in ("nbmst", "khhdon", "shdon", "khmshdon")}
                detail = await client.detail(flow, key)
                assert detail.status == 200, await detail.text()
                body = await detail.json()
                assert client.key_of(body) == client.key_of(row)
                assert isinstance(body["hdhhdvu"], list)
                assert body["hdhhdvu"] or row.get("hsgoc") is None  # lines come with originals
                export = await client.detail(flow, key, "export-xml")
                if row.get("hsgoc") is None:
                    assert export.status == 500
                    assert (await export.json())["message"] == (
                        "Không tồn tại hồ sơ gốc của hóa đơn."
                    )
                    checked_missing += 1
                    continue
                assert export.status == 200, await export.text()
                assert export.content_type == "application/zip"
                with zipfile.ZipFile(io.BytesIO(await export.read())) as archive:
                    names = archive.namelist()
                    assert "invoice.xml" in names and "invoice.html" in names
                    xml = archive.read("invoice.xml").decode()
                assert "<HDon" in xml and str(row["shdon"]) in xml
                checked_xml += 1
    assert checked_xml > 0 and checked_missing > 0


async def test_account_sees_only_its_own_invoices(
    client: Any,
    make_client: Any,
    portal: RunningSandbox,
    companies: list[Company],
    months: list[tuple[int, int]],
) -> None:
    owner, other = [c for c in companies if not c.locked][:2]
    await client.login(owner)
    intruder = make_client(portal.api_url)
    await intruder.login(other)
    for flow in owner.flows:
        for year, month in months:
            for row in await client.list_all(flow, client.month_search(year, month)):
                if other.mst in (row["nbmst"], row.get("nmmst")):
                    continue  # an invoice between the two: both may see it
                key = {name: row[name] for name in ("nbmst", "khhdon", "shdon", "khmshdon")}
                assert (await client.detail(flow, key)).status == 200
                foreign = await intruder.detail(flow, key)
                assert foreign.status == 500
                assert (await foreign.json())["path"] == "uri=/invoices/detail"
                assert (await intruder.detail(flow, key, "export-xml")).status == 500
                return
    pytest.fail("the owner has no invoice to try")


async def test_profile_and_captcha_cookie(
    client: Any, company: Company, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{client.base}/captcha") as response:
        body = await response.json()
        assert len(body["key"]) == 24 and int(body["key"], 16) >= 0
        assert body["content"].startswith("<svg")
        assert any(cookie.key.startswith("BIGip") for cookie in response.cookies.values())
    await client.login(company)
    profile = await client.get("/security-taxpayer/profile")
    assert profile.status == 200
    assert (await profile.json())["username"] == company.mst


async def test_late_invoices_appear_when_time_passes(
    start_portal: Any,
    make_client: Any,
    session: aiohttp.ClientSession,
    months: list[tuple[int, int]],
) -> None:
    portal = await start_portal()
    client = make_client(portal.api_url)
    dataset = portal.portal.dataset
    purchase_flows = ("mua_vao_dien_tu", "mua_vao_may_tinh_tien")
    for company in (c for c in dataset.companies() if not c.locked):
        await client.login(company)
        for flow in purchase_flows:
            for year, month in months:
                before = await client.list_all(flow, client.month_search(year, month))
                await configure(session, portal, {"time_offset_s": 120 * 86400})
                later = await client.list_all(flow, client.month_search(year, month))
                await configure(session, portal, {"time_offset_s": 0})
                expected = await truth(session, portal, company.mst, flow, year, month)
                assert sorted(map(client.key_of, before)) == sorted(expected)
                if len(later) > len(before):
                    assert set(map(client.key_of, before)) < set(map(client.key_of, later))
                    return
    pytest.fail("no late purchase invoice appeared after moving the clock 120 days")


async def test_a_frozen_clock_stands_still_and_bad_instants_are_refused(
    start_portal: Any, session: aiohttp.ClientSession
) -> None:
    portal = await start_portal()
    frozen = "2026-11-20T10:00:00+00:00"
    shown = await configure(session, portal, {"clock_frozen_at": frozen})
    assert shown["clock_frozen_at"] == frozen
    first = portal.portal.now()
    await asyncio.sleep(0.01)
    assert portal.portal.now() == first == datetime.fromisoformat(frozen)
    for bad in ("yesterday", "2026-11-20T10:00:00"):  # not an instant / no time zone
        async with session.post(
            f"{portal.url}/_sandbox/config", json={"clock_frozen_at": bad}
        ) as response:
            assert response.status == 400
            assert "clock_frozen_at" in await response.text()
    await configure(session, portal, {"clock_frozen_at": None})
    assert portal.portal.now() > first
