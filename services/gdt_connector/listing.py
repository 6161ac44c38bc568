"""Discovery: every invoice of one flow in one calendar month, page by page.

Sold lists are read with one query. Purchase lists are read once per processing status (the
portal UI forces a `ttxly` choice; most crawlers loop over 5, 6, 8 and merge): electronic
purchases over 5, 6 and 8, cash-register purchases over 8. The first page of every query is read
before anything is streamed, so every page reports the portal's full total for the month.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import grpc

from gdtmesh import reasons
from gdtmesh.flows import FlowInfo
from gdtmesh.runtime.errors import ServiceError, bad_request, error_info
from gdtmesh.vncalendar import VIETNAM
from services.gdt_connector.access import SessionPortal
from services.gdt_connector.model import InvoiceKey, InvoiceSummary, ListPage
from services.gdt_connector.portal import malformed, server_error

PAGE_SIZE = 50  # the portal's maximum; larger gives 500
SORT = "tdlap:desc"  # one field: multi-field sorts give 500 since 2026
MAX_PAGES = 10_000  # per query; far beyond any real month, stops a runaway cursor


@dataclass(frozen=True)
class _Page:
    rows: list[dict[str, Any]]
    total: int
    state: str | None


def ttxly_filters(flow: FlowInfo) -> tuple[int | None, ...]:
    """The processing statuses to query one at a time (None: no ttxly clause)."""
    if flow.direction == "sold":
        return (None,)
    return (8,) if flow.family == "sco-query" else (5, 6, 8)


def month_search(year: int, month: int, ttxly: int | None) -> str:
    last = calendar.monthrange(year, month)[1]
    search = (
        f"tdlap=ge=01/{month:02d}/{year}T00:00:00;tdlap=le={last:02d}/{month:02d}/{year}T23:59:59"
    )
    return search if ttxly is None else f"{search};ttxly=={ttxly}"


@dataclass(frozen=True)
class ListPosition:
    """Where a month's listing stands: the query (`ttxly`) it is in, the portal's `state` of
    that query's next page (None: its first page) and every query's total."""

    query: int
    state: str | None
    totals: tuple[int, ...]

    def token(self) -> str:
        data = json.dumps({"q": self.query, "s": self.state, "t": self.totals})
        return base64.urlsafe_b64encode(data.encode()).decode()

    @classmethod
    def from_token(cls, token: str, queries: int) -> ListPosition:
        """The position a `token` names; INVALID_ARGUMENT for anything `token` cannot make."""
        try:
            if len(token) > MAX_TOKEN_CHARS:
                raise ValueError("too long")
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            position = cls(int(data["q"]), data["s"], tuple(int(t) for t in data["t"]))
            if not (0 <= position.query < queries and len(position.totals) == queries):
                raise ValueError("not a position of this listing")
            if position.state is not None and not isinstance(position.state, str):
                raise ValueError("bad state")
        except (ValueError, TypeError, KeyError) as error:
            problem = f"not a resume token of this listing ({error})"
            raise bad_request({"resume_token": problem}) from None
        return position


MAX_TOKEN_CHARS = 4096


async def list_month(
    portal: SessionPortal,
    flow: FlowInfo,
    year: int,
    month: int,
    timeout_s: float,
    resume_token: str = "",
) -> AsyncIterator[ListPage]:
    """One `ListPage` per portal page, rows deduplicated across pages and queries, each with
    the token to resume after it; with `resume_token`, the pages after the one it was given
    with."""
    searches = [month_search(year, month, ttxly) for ttxly in ttxly_filters(flow)]
    reader = _Reader(portal, flow.list_path, timeout_s)
    if resume_token:
        position = ListPosition.from_token(resume_token, len(searches))
        first_pages: dict[int, _Page] = {}
    else:  # every query's first page first: the month's total is known from the start
        first_pages = {
            index: await reader.page(search, None) for index, search in enumerate(searches)
        }
        position = ListPosition(0, None, tuple(page.total for page in first_pages.values()))
    totals = list(position.totals)
    seen: set[InvoiceKey] = set()
    for index in range(position.query, len(searches)):
        search = searches[index]
        state = position.state if index == position.query else None
        page = first_pages.get(index) or await reader.page(search, state)
        states: set[str] = set()
        while True:
            totals[index] = page.total  # it can drift during long paginations
            fresh = [s for s in map(summary_of, page.rows) if s.key not in seen]
            seen.update(s.key for s in fresh)
            after = _position_after(index, page.state, len(searches), tuple(totals))
            yield ListPage(fresh, sum(totals), after.token() if after else "")
            if not page.state:
                break
            _check_progress(page.state, states, search)
            page = await reader.page(search, page.state)


def _position_after(
    query: int, state: str | None, queries: int, totals: tuple[int, ...]
) -> ListPosition | None:
    """Where the listing goes on after a page whose next state is `state`; None at the end."""
    if state:
        return ListPosition(query, state, totals)
    return ListPosition(query + 1, None, totals) if query + 1 < queries else None


def _check_progress(state: str, states: set[str], search: str) -> None:
    if state in states:
        raise ServiceError(
            grpc.StatusCode.DATA_LOSS,
            f"the portal repeated a paging state (search {search}); the listing is incomplete",
            [error_info(reasons.PORTAL_STATE_LOOP)],
        )
    if len(states) >= MAX_PAGES:
        raise ServiceError(
            grpc.StatusCode.DATA_LOSS,
            f"more than {MAX_PAGES} pages for one query (search {search}); stopped",
            [error_info(reasons.PORTAL_STATE_LOOP)],
        )
    states.add(state)


class _Reader:
    def __init__(self, portal: SessionPortal, path: str, timeout_s: float) -> None:
        self._portal = portal
        self._path = path
        self._timeout_s = timeout_s

    async def page(self, search: str, state: str | None) -> _Page:
        params = {"sort": SORT, "size": str(PAGE_SIZE), "search": search}
        if state:
            params["state"] = state
        reply = await self._portal.get(self._path, params, timeout_s=self._timeout_s)
        what = f"list {self._path}"
        if reply.status != 200:
            raise server_error(reply, what)
        return parse_page(reply.json(what), what)


def parse_page(data: Any, what: str) -> _Page:
    if not isinstance(data, dict):
        raise malformed(f"{what}: the page is not a JSON object")
    rows, total, state = data.get("datas"), data.get("total"), data.get("state")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise malformed(f"{what}: `datas` is not a list of objects")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise malformed(f"{what}: `total` is not a count ({total!r})")
    if state is not None and not isinstance(state, str):
        raise malformed(f"{what}: `state` is not a string")
    return _Page(rows, total, state)


def summary_of(row: dict[str, Any]) -> InvoiceSummary:
    """An invoice summary from a list row (or a detail); DATA_LOSS naming a bad field."""
    key = key_of(row)
    return InvoiceSummary(
        key=key,
        issue_date=_vietnam_day(row.get("tdlap"), key),
        processing_status=_integer(row, "ttxly"),
        invoice_status=_integer(row, "tthai"),
        has_original=row.get("hsgoc") is not None,
        fingerprint=row_fingerprint(row),
    )


# The row fields whose change means the invoice changed on the portal: its status (replaced 4,
# adjusted 5), processing (a code issued later), the original dossier and the authority's code
# (an original or a code that arrives later), the amounts and the issue day. Timestamps of the
# portal's own bookkeeping (`ncnhat`, ...) are left out: they move without the invoice changing.
FINGERPRINT_FIELDS = (
    "tthai",
    "ttxly",
    "hsgoc",
    "mhdon",
    "tgtcthue",
    "tgtthue",
    "tgtttbso",
    "tdlap",
)
FINGERPRINT_CHARS = 12  # 48 bits: a change goes unnoticed with odds of 1 in 2.8e14


def row_fingerprint(row: dict[str, Any]) -> str:
    """The row's state as FINGERPRINT_CHARS hex digits. Amounts count by value (the portal
    writes 100 and 100.0 alike), so only a real change changes it."""
    values = [_canonical(row.get(field)) for field in FINGERPRINT_FIELDS]
    digest = hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()
    return digest[:FINGERPRINT_CHARS]


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def key_of(row: dict[str, Any]) -> InvoiceKey:
    seller, series = row.get("nbmst"), row.get("khhdon")
    if not isinstance(seller, str) or not seller or not isinstance(series, str) or not series:
        raise malformed(f"invoice row without seller or series: nbmst={seller!r} khhdon={series!r}")
    return InvoiceKey(seller, _integer(row, "khmshdon"), series, _integer(row, "shdon"))


# Bounds that fit the proto fields (int32 statuses and form, int64 numbers) with room to spare.
_MAXIMUM = {"shdon": 10**15}
_STATUS_MAXIMUM = 2**31 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,16}")


def _integer(row: dict[str, Any], field: str) -> int:
    value = row.get(field)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        number = int(value)
    elif isinstance(value, str) and _ASCII_DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or not 0 <= number <= _MAXIMUM.get(field, _STATUS_MAXIMUM):
        raise malformed(f"invoice row with a bad `{field}`: {str(value)[:40]!r}")
    return number


def _vietnam_day(value: Any, key: InvoiceKey) -> date:
    """`tdlap` (UTC ISO at Vietnam midnight, e.g. 2025-09-29T17:00:00Z) as a Vietnam day."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=VIETNAM)  # a naive portal time is Vietnam time
        return moment.astimezone(VIETNAM).date()
    except (ValueError, OverflowError):  # OverflowError: the end of time moved to UTC+7
        shown = str(value)[:40]
        raise malformed(f"invoice {key.series}-{key.number} has a bad `tdlap`: {shown!r}") from None
