"""List query rules: page size, one-month windows, sorting, ttxly, filters and `state`."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.app import RunningSandbox
from sandbox.dataset import Company

pytestmark = pytest.mark.timeout(30)


async def _busiest_month(
    client: Any, flow: str, months: list[tuple[int, int]], extra: str = ""
) -> tuple[str, dict[str, Any]]:
    """The filter of the month with the most rows in `flow`, and its first page (size 50)."""
    best: tuple[str, dict[str, Any]] | None = None
    for year, month in months:
        search = client.month_search(year, month, extra)
        page = await (await client.list_page(flow, search)).json()
        if best is None or page["total"] > best[1]["total"]:
            best = (search, page)
    assert best is not None and best[1]["total"] > 0, f"no rows in {flow}"
    return best


async def _spring_error(response: aiohttp.ClientResponse, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert {"timestamp", "message", "details", "path", "requestId"} <= set(body)
    return str(body["message"])


async def test_page_size_limit(
    client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    await client.login(company)
    search = client.month_search(*months[0])
    assert (await client.list_page("ban_ra_dien_tu", search, size=50)).status == 200
    await _spring_error(await client.list_page("ban_ra_dien_tu", search, size=51), 500)
    await _spring_error(await client.list_page("ban_ra_dien_tu", search, size=500), 500)


@pytest.mark.parametrize(
    ("start", "end", "status"),
    [
        ("06/03/2026T00:00:00", "05/04/2026T23:59:59", 200),  # one month, as crawlers send
        ("01/02/2026T00:00:00", "28/02/2026T23:59:59", 200),
        ("01/03/2026T00:00:00", "01/04/2026T23:59:59", 400),
        ("01/01/2026T00:00:00", "31/03/2026T23:59:59", 400),
    ],
)
async def test_one_month_window(
    client: Any, company: Company, start: str, end: str, status: int
) -> None:
    await client.login(company)
    search = f"tdlap=ge={start};tdlap=le={end}"
    response = await client.list_page("ban_ra_dien_tu", search)
    if status == 400:
        message = await _spring_error(response, 400)
        assert message == "Khoảng thời gian tìm kiếm không được lớn hơn 1 tháng"
    else:
        assert response.status == 200


@pytest.mark.parametrize(
    "search",
    [
        "",
        "ttxly==5",
        "tdlap=ge=01/03/2026T00:00:00",
        "tdlap=ge=2026-03-01;tdlap=le=2026-03-31",
        "tdlap=ge=01/03/2026T00:00:00;tdlap=le=31/03/2026T23:59:59;shdon==abc",
        "tdlap=ge=01/03/2026T00:00:00;tdlap=le=31/03/2026T23:59:59;color==red",
    ],
)
async def test_bad_filters_are_500(client: Any, company: Company, search: str) -> None:
    await client.login(company)
    await _spring_error(await client.list_page("ban_ra_dien_tu", search), 500)


async def test_multi_field_sort_switch(
    start_portal: Any, make_client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    multi = "tdlap:desc,khmshdon:asc,shdon:desc"
    strict = make_client((await start_portal()).api_url)
    await strict.login(company)
    search = strict.month_search(*months[0])
    response = await strict.list_page("ban_ra_dien_tu", search, sort=multi)
    assert await _spring_error(response, 500) == "Không hỗ trợ sắp xếp theo nhiều trường"

    lenient = make_client((await start_portal(reject_multi_sort=False)).api_url)
    await lenient.login(company)
    flow = company.flows[0]
    search, _ = await _busiest_month(lenient, flow, months)
    rows = await lenient.list_all(flow, search, size=9, sort=multi)
    order = [(r["tdlap"], -r["khmshdon"], r["shdon"]) for r in rows]
    assert order == sorted(order, reverse=True)
    assert sorted(map(lenient.key_of, rows)) == sorted(
        map(lenient.key_of, await lenient.list_all(flow, search))
    )


@pytest.mark.parametrize("flow", ["mua_vao_dien_tu", "mua_vao_may_tinh_tien"])
async def test_purchase_without_ttxly_switch(
    start_portal: Any,
    make_client: Any,
    company: Company,
    months: list[tuple[int, int]],
    flow: str,
) -> None:
    lenient = make_client((await start_portal()).api_url)
    await lenient.login(company)
    search, page = await _busiest_month(lenient, flow, months)
    every = await lenient.list_all(flow, search)
    assert len(every) == page["total"]
    per_ttxly = []
    for ttxly in (5, 6, 8):
        rows = await lenient.list_all(flow, f"{search};ttxly=={ttxly}")
        assert {row["ttxly"] for row in rows} <= {ttxly}
        per_ttxly += rows
    assert sorted(map(lenient.key_of, per_ttxly)) == sorted(map(lenient.key_of, every))

    strict = make_client((await start_portal(purchase_requires_ttxly=True)).api_url)
    await strict.login(company)
    await _spring_error(await strict.list_page(flow, search), 500)
    assert (await strict.list_page(flow, f"{search};ttxly==8")).status == 200
    sold = strict.month_search(*months[0])
    assert (await strict.list_page("ban_ra_dien_tu", sold)).status == 200


async def test_equality_filters(
    client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    await client.login(company)
    flow = "mua_vao_dien_tu" if "mua_vao_dien_tu" in company.flows else company.flows[0]
    search, _ = await _busiest_month(client, flow, months)
    rows = await client.list_all(flow, search)
    sample = rows[len(rows) // 2]
    for name in ("nbmst", "khhdon", "shdon", "khmshdon", "tthai", "ttxly"):
        filtered = await client.list_all(flow, f"{search};{name}=={sample[name]}")
        assert sample in filtered
        assert all(row[name] == sample[name] for row in filtered)
        assert filtered == [row for row in rows if row[name] == sample[name]]
    exact = ";".join(f"{n}=={sample[n]}" for n in ("nbmst", "khhdon", "shdon", "khmshdon"))
    assert await client.list_all(flow, f"{search};{exact}") == [sample]


async def test_cash_register_rows_are_ttxly_8(
    client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    await client.login(company)
    sco_flows = [f for f in company.flows if f in ("ban_ra_may_tinh_tien", "mua_vao_may_tinh_tien")]
    assert sco_flows
    for flow in sco_flows:
        _, page = await _busiest_month(client, flow, months)
        assert {row["ttxly"] for row in page["datas"]} == {8}


async def test_state_is_bound_and_tamper_proof(
    client: Any, company: Company, months: list[tuple[int, int]]
) -> None:
    await client.login(company)
    flow = company.flows[0]
    search, _ = await _busiest_month(client, flow, months)
    first = await (await client.list_page(flow, search, size=2)).json()
    state = first["state"]
    assert state and int(state, 16) >= 0
    second = await client.list_page(flow, search, size=2, state=state)
    assert second.status == 200
    assert (await second.json())["datas"][0] != first["datas"][0]
    flipped = state[:-10] + ("0" if state[-10] != "0" else "1") + state[-9:]
    tampered = [flipped, state[:-2], "zz", "00", state + "00"]
    for bad in tampered:
        await _spring_error(await client.list_page(flow, search, size=2, state=bad), 500)
    other_query = f"{search};ttxly==5"
    await _spring_error(await client.list_page(flow, other_query, size=2, state=state), 500)
    other_flow = next(f for f in ("ban_ra_dien_tu", "mua_vao_dien_tu") if f != flow)
    await _spring_error(await client.list_page(other_flow, search, size=2, state=state), 500)


async def test_state_from_another_account_is_rejected(
    portal: RunningSandbox,
    make_client: Any,
    companies: list[Company],
    months: list[tuple[int, int]],
) -> None:
    owner, other = [c for c in companies if not c.locked][:2]
    a, b = make_client(portal.api_url), make_client(portal.api_url)
    await a.login(owner)
    await b.login(other)
    flow = owner.flows[0]
    search, _ = await _busiest_month(a, flow, months)
    first = await (await a.list_page(flow, search, size=1)).json()
    assert first["state"]
    await _spring_error(await b.list_page(flow, search, size=1, state=first["state"]), 500)


async def test_empty_result_shape(client: Any, company: Company) -> None:
    await client.login(company)
    response = await client.list_page("ban_ra_dien_tu", client.month_search(2001, 1))
    body = await response.json()
    assert body["datas"] == [] and body["total"] == 0 and body["state"] is None
    assert isinstance(body["time"], int)
