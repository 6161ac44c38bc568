"""The list filter parser, sort order and paging cursor, without a server."""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.cursor import CursorCodec, CursorError
from sandbox.search import (
    MONTH_TOO_LONG,
    MULTI_SORT,
    Position,
    SearchError,
    SortSpec,
    parse_search,
    parse_sort,
)


@dataclass(frozen=True)
class Row:
    tdlap: date
    nbmst: str
    khmshdon: int
    khhdon: str
    shdon: int
    nmmst: str | None = None
    ttxly: int = 5
    tthai: int = 1


def test_range_and_equality_clauses() -> None:
    search = parse_search(
        "tdlap=ge=01/03/2026T00:00:00; tdlap=le=31/03/2026T23:59:59;ttxly==5;nbmst==0101;"
        "khhdon==C26TAA;shdon==12;"
    )
    assert (search.start, search.end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert search.equals == (("ttxly", 5), ("nbmst", "0101"), ("khhdon", "C26TAA"), ("shdon", 12))
    row = Row(date(2026, 3, 5), "0101", 1, "C26TAA", 12)
    assert search.matches(row)
    assert not search.matches(Row(date(2026, 3, 5), "0101", 1, "C26TAA", 13))


def test_bounds_follow_vietnam_midnight_semantics() -> None:
    # An invoice's tdlap is its Vietnam day at midnight: a lower bound after midnight excludes it.
    search = parse_search("tdlap=ge=01/03/2026T08:00:00;tdlap=le=20/03/2026T00:00:00")
    assert (search.start, search.end) == (date(2026, 3, 2), date(2026, 3, 20))
    strict = parse_search("tdlap=gt=01/03/2026T00:00:00;tdlap=lt=20/03/2026T00:00:00")
    assert (strict.start, strict.end) == (date(2026, 3, 2), date(2026, 3, 19))


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_every_calendar_month_is_accepted(year: int) -> None:
    for month in range(1, 13):
        last = calendar.monthrange(year, month)[1]
        search = parse_search(
            f"tdlap=ge=01/{month:02d}/{year}T00:00:00;tdlap=le={last}/{month:02d}/{year}T23:59:59"
        )
        assert search.end - search.start == timedelta(days=last - 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [("01/03/2026", "01/04/2026"), ("15/01/2026", "15/02/2026"), ("01/01/2026", "31/12/2026")],
)
def test_more_than_one_month_is_400(start: str, end: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_search(f"tdlap=ge={start}T00:00:00;tdlap=le={end}T23:59:59")
    assert (caught.value.status, caught.value.message) == (400, MONTH_TOO_LONG)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "tdlap=ge=01/03/2026T00:00:00",
        "tdlap=xx=01/03/2026T00:00:00;tdlap=le=x",
        "tdlap=ge=1/3/26;tdlap=le=31/03/2026T23:59:59",
        "shdon=12",
    ],
)
def test_malformed_filters_are_500(text: str | None) -> None:
    with pytest.raises(SearchError) as caught:
        parse_search(text)
    assert caught.value.status == 500


def test_sort_parsing() -> None:
    assert parse_sort(None, reject_multi=True).fields == (("tdlap", True),)
    assert parse_sort("tdlap:asc", reject_multi=True).fields == (("tdlap", False),)
    with pytest.raises(SearchError) as caught:
        parse_sort("tdlap:desc,shdon:desc", reject_multi=True)
    assert caught.value.message == MULTI_SORT
    assert len(parse_sort("tdlap:desc,shdon:desc", reject_multi=False).fields) == 2
    for bad in ("price:desc", "tdlap:sideways"):
        with pytest.raises(SearchError):
            parse_sort(bad, reject_multi=False)


rows_strategy = st.lists(
    st.builds(
        Row,
        tdlap=st.dates(date(2026, 1, 1), date(2026, 1, 10)),
        nbmst=st.sampled_from(["0101", "0102", "0101-001", "3900"]),
        khmshdon=st.integers(1, 2),
        khhdon=st.sampled_from(["C26TAA", "C26TA", "K26TBB"]),
        shdon=st.integers(1, 20),
    ),
    unique_by=lambda row: Position.of(row),
    max_size=40,
)
specs = st.lists(
    st.tuples(st.sampled_from(Position._fields), st.booleans()), min_size=1, max_size=3
).map(lambda fields: SortSpec(tuple(fields)))


@given(rows_strategy, specs)
def test_order_is_strict_and_index_after_resumes(rows: list[Row], spec: SortSpec) -> None:
    ordered = spec.order(list(rows))
    keys = [spec.key(Position.of(row)) for row in ordered]
    assert all(a < b for a, b in itertools.pairwise(keys)), "not a strict total order"
    for index, row in enumerate(ordered):
        position = Position.of(row)
        assert spec.index_after(ordered, position) == index + 1
        # A row that vanished is placed by its sort values: the same answer.
        without = ordered[:index] + ordered[index + 1 :]
        assert spec.index_after(without, position) == index


@given(rows_strategy.filter(bool), st.text(max_size=20), st.data())
def test_cursor_round_trip_and_tamper_proof(
    rows: list[Row], scope: str, data: st.DataObject
) -> None:
    codec = CursorCodec(b"k" * 64)
    position = Position.of(rows[0])
    state = codec.encode(scope, position)
    assert codec.decode(scope, state) == position
    raw = bytearray(bytes.fromhex(state))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CursorError):
        codec.decode(scope, raw.hex())
    with pytest.raises(CursorError):
        codec.decode(scope + "x", state)
    with pytest.raises(CursorError):
        CursorCodec(b"j" * 64).decode(scope, state)


def test_cursor_looks_like_the_portals() -> None:
    state = CursorCodec(b"k" * 64).encode(
        "q", Position(date(2026, 3, 1), "0397720137", 1, "C26TSG", 506)
    )
    assert state == state.lower() and int(state, 16)
    assert state.endswith("0042")
    for junk in ("", "0", "zz", "00" * 40):
        with pytest.raises(CursorError):
            CursorCodec(b"k" * 64).decode("q", junk)
