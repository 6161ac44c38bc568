"""Calendar months of a date range: the portal answers one month per query, so an import is
split by month and the first and last months are clipped to the range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class MonthWindow:
    year: int
    month: int
    first_day: dt.date  # within the month, >= the range start
    last_day: dt.date  # within the month, <= the range end


def month_windows(start: dt.date, end: dt.date) -> list[MonthWindow]:
    """Every calendar month touching [start, end], clipped to it; empty when start > end."""
    windows = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        first_of_month = dt.date(year, month, 1)
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        last_of_month = dt.date(next_year, next_month, 1) - dt.timedelta(days=1)
        windows.append(
            MonthWindow(year, month, max(first_of_month, start), min(last_of_month, end))
        )
        year, month = next_year, next_month
    return windows


def months_spanned(start: dt.date, end: dt.date) -> int:
    """How many calendar months [start, end] touches."""
    return (end.year - start.year) * 12 + end.month - start.month + 1
