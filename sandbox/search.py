"""The list endpoints' `search` filter and `sort` parameter, parsed as the portal reads them.

Filter: clauses joined by `;`. The issue-date range is required,
`tdlap=ge=dd/MM/yyyyTHH:mm:ss;tdlap=le=dd/MM/yyyyTHH:mm:ss` (Vietnam time, also `=gt=`/`=lt=`),
at most one month long; optional equality clauses `field==value`.
Sort: `field:asc|desc`, comma-separated; the portal rejects several fields since 2026.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple, Protocol, TypeVar

from gdtmesh.vncalendar import add_months

MONTH_TOO_LONG = "Khoảng thời gian tìm kiếm không được lớn hơn 1 tháng"
MULTI_SORT = "Không hỗ trợ sắp xếp theo nhiều trường"
DATE_FORMAT = "%d/%m/%YT%H:%M:%S"

# Equality filter fields and the type the portal converts their value to.
EQUALITY_FIELDS: dict[str, type] = {
    "ttxly": int,
    "tthai": int,
    "khmshdon": int,
    "shdon": int,
    "nbmst": str,
    "nmmst": str,
    "khhdon": str,
}
RANGE_OPERATORS = ("ge", "le", "gt", "lt")


class SearchError(Exception):
    """The query is not acceptable; `status` is what the portal answers (500 or 400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Filterable(Protocol):
    """What a filter reads from an invoice (sandbox.dataset.InvoiceRef has it)."""

    @property
    def tdlap(self) -> date: ...
    @property
    def nbmst(self) -> str: ...
    @property
    def nmmst(self) -> str | None: ...
    @property
    def khmshdon(self) -> int: ...
    @property
    def khhdon(self) -> str: ...
    @property
    def shdon(self) -> int: ...
    @property
    def ttxly(self) -> int: ...
    @property
    def tthai(self) -> int: ...


class Position(NamedTuple):
    """Identity and sort values of one row: what a paging state remembers."""

    tdlap: date
    nbmst: str
    khmshdon: int
    khhdon: str
    shdon: int

    @classmethod
    def of(cls, row: Filterable) -> Position:
        return cls(row.tdlap, row.nbmst, row.khmshdon, row.khhdon, row.shdon)


@dataclass(frozen=True)
class Search:
    """A parsed filter: issue days `start..end` (inclusive) and equality conditions."""

    start: date
    end: date
    equals: tuple[tuple[str, int | str], ...] = ()

    def matches(self, row: Filterable) -> bool:
        return all(getattr(row, name) == value for name, value in self.equals)

    def has(self, name: str) -> bool:
        return any(field == name for field, _ in self.equals)

    def canonical(self) -> str:
        """A stable text of the query, so a paging state can be bound to it."""
        conditions = ";".join(f"{name}=={value}" for name, value in sorted(self.equals, key=str))
        return f"{self.start.isoformat()}..{self.end.isoformat()};{conditions}"


def parse_search(text: str | None) -> Search:
    if not text:
        raise SearchError(500, "Thiếu điều kiện tìm kiếm: tdlap=ge=...;tdlap=le=... là bắt buộc.")
    lower: tuple[datetime, bool] | None = None  # (bound, strict)
    upper: tuple[datetime, bool] | None = None
    equals: list[tuple[str, int | str]] = []
    for clause in filter(None, (part.strip() for part in text.split(";"))):
        if clause.startswith("tdlap="):
            operator, moment = _range_clause(clause)
            if operator in ("ge", "gt"):
                lower = _tighter(lower, (moment, operator == "gt"), later=True)
            else:
                upper = _tighter(upper, (moment, operator == "lt"), later=False)
        else:
            equals.append(_equality_clause(clause))
    if lower is None or upper is None:
        raise SearchError(500, "Điều kiện tìm kiếm phải có tdlap=ge=... và tdlap=le=...")
    if upper[0].date() > add_months(lower[0].date(), 1) - timedelta(days=1):
        raise SearchError(400, MONTH_TOO_LONG)
    return Search(_first_day(*lower), _last_day(*upper), tuple(equals))


def _range_clause(clause: str) -> tuple[str, datetime]:
    _, operator, value = [*clause.split("=", 2), "", ""][:3]
    if operator not in RANGE_OPERATORS:
        raise SearchError(500, f"Điều kiện tìm kiếm không hợp lệ: {clause}")
    try:
        return operator, datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        raise SearchError(
            500, f"Ngày không hợp lệ: '{value}' (định dạng dd/MM/yyyyTHH:mm:ss)"
        ) from None


def _equality_clause(clause: str) -> tuple[str, int | str]:
    name, separator, value = clause.partition("==")
    if not separator or name not in EQUALITY_FIELDS:
        raise SearchError(500, f"Điều kiện tìm kiếm không hợp lệ: {clause}")
    if EQUALITY_FIELDS[name] is str:
        return name, value
    try:
        return name, int(value)
    except ValueError:
        raise SearchError(500, _conversion_message(value)) from None


def _conversion_message(value: str) -> str:
    return (
        "Failed to convert value of type 'java.lang.String' to required type 'int'; nested "
        f'exception is java.lang.NumberFormatException: For input string: "{value}"'
    )


def _tighter(
    current: tuple[datetime, bool] | None, new: tuple[datetime, bool], *, later: bool
) -> tuple[datetime, bool]:
    if current is None:
        return new
    return max(current, new) if later else min(current, new)


def _first_day(moment: datetime, strict: bool) -> date:
    """First day whose midnight (an invoice's tdlap) is >= (or >) `moment`."""
    exact_midnight = moment.time() == datetime.min.time()
    return moment.date() if exact_midnight and not strict else moment.date() + timedelta(days=1)


def _last_day(moment: datetime, strict: bool) -> date:
    """Last day whose midnight is <= (or <) `moment`."""
    exact_midnight = moment.time() == datetime.min.time()
    return moment.date() - timedelta(days=1) if exact_midnight and strict else moment.date()


# ---- sort -------------------------------------------------------------------------------------

SORT_FIELDS = Position._fields
R = TypeVar("R", bound=Filterable)
# Appended to every sort so that pages follow one strict total order.
_TIE_BREAK = (
    ("tdlap", True),
    ("shdon", True),
    ("nbmst", True),
    ("khhdon", True),
    ("khmshdon", True),
)


@dataclass(frozen=True)
class SortSpec:
    """Requested sort fields `(name, descending)`; `key` orders rows ascending by it."""

    fields: tuple[tuple[str, bool], ...]

    def key(self, position: Position) -> tuple[object, ...]:
        return tuple(_component(getattr(position, name), desc) for name, desc in self._full())

    def canonical(self) -> str:
        return ",".join(f"{name}:{'desc' if desc else 'asc'}" for name, desc in self.fields)

    def order(self, rows: list[R]) -> list[R]:
        """`rows` sorted in place (stable passes, least significant field first) and returned."""
        for name, descending in reversed(self._full()):
            rows.sort(key=attrgetter(name), reverse=descending)
        return rows

    def index_after(self, rows: Sequence[Filterable], position: Position) -> int:
        """Where the page after `position` starts in `rows` (sorted by `order`)."""
        identity = attrgetter(*Position._fields)
        for index, row in enumerate(rows):
            if identity(row) == position:
                return index + 1
        # The row is gone (e.g. the clock moved back): place it by its sort values.
        keys = [self.key(Position.of(row)) for row in rows]
        return bisect.bisect_right(keys, self.key(position))

    def _full(self) -> tuple[tuple[str, bool], ...]:
        return self.fields + _TIE_BREAK


def parse_sort(text: str | None, *, reject_multi: bool) -> SortSpec:
    if not text:
        return SortSpec((("tdlap", True),))
    fields: list[tuple[str, bool]] = []
    for part in text.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction.lower() or "asc"
        if name not in SORT_FIELDS or direction not in ("asc", "desc"):
            raise SearchError(500, f"Không hỗ trợ sắp xếp theo '{part.strip()}'")
        fields.append((name, direction == "desc"))
    if len(fields) > 1 and reject_multi:
        raise SearchError(500, MULTI_SORT)
    return SortSpec(tuple(fields))


def _component(value: object, descending: bool) -> object:
    """`value` mapped so that ascending order of the result is the requested order."""
    if isinstance(value, date):
        value = value.toordinal()
    if not descending:
        return value
    if isinstance(value, str):
        # Negated code points; the trailing 1 puts "abc" before its prefix "ab" when descending.
        return (*(-ord(char) for char in value), 1)
    assert isinstance(value, int)
    return -value
