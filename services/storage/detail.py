"""What storage reads from a detail JSON: its key fields, issue day and whether the portal holds
an original. Used to refuse a detail filed under the wrong key and to reconcile a bucket."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from gdtmesh.vncalendar import vietnam_date


class DetailError(ValueError):
    """The detail is not a JSON object with usable key fields; the message says why."""


@dataclass(frozen=True)
class DetailFacts:
    seller_tax_code: str  # nbmst
    form: int  # khmshdon
    series: str  # khhdon
    number: int  # shdon
    issue_day: date | None  # tdlap in Vietnam time; None when absent
    has_original: bool  # hsgoc set: the portal holds a signed XML


def _integer(record: dict[str, object], field: str) -> int:
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise DetailError(f"{field} is missing or not a number")
    try:
        return int(value)
    except ValueError:
        raise DetailError(f"{field} is not a number") from None


def _text(record: dict[str, object], field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise DetailError(f"{field} is missing or not a string")
    return value


def _issue_day(record: dict[str, object]) -> date | None:
    """`tdlap` is a UTC instant at Vietnam midnight, e.g. 2025-09-29T17:00:00Z -> 2025-09-30."""
    value = record.get("tdlap")
    if value is None:
        return None
    if not isinstance(value, str):
        raise DetailError("tdlap is not a string")
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DetailError("tdlap is not an ISO date-time") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return vietnam_date(instant)


def read_detail(data: bytes) -> DetailFacts:
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise DetailError("not valid UTF-8 JSON") from None
    if not isinstance(record, dict):
        raise DetailError("not a JSON object")
    return DetailFacts(
        seller_tax_code=_text(record, "nbmst"),
        form=_integer(record, "khmshdon"),
        series=_text(record, "khhdon"),
        number=_integer(record, "shdon"),
        issue_day=_issue_day(record),
        has_original=record.get("hsgoc") not in (None, ""),
    )
