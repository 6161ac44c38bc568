"""The Vietnam calendar: the portal's timezone and the month arithmetic every side needs.

The portal answers one calendar month per query and dates its invoices in Vietnam time (UTC+7,
no daylight saving), so an import is split by month and "today" is Vietnam's today.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")


def vietnam_today() -> dt.date:
    return dt.datetime.now(VIETNAM).date()


def vietnam_date(moment: dt.datetime) -> dt.date:
    """The Vietnam calendar day of an aware instant."""
    return moment.astimezone(VIETNAM).date()


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` moved by `months` calendar months (negative: back), clipped to the month's end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def last_of_month(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def months_back(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` calendar months before `day`'s month."""
    return add_months(first_of_month(day), -months)


@dataclass(frozen=True)
class MonthWindow:
    year: int
    month: int
    first_day: dt.date  # within the month, >= the range start
    last_day: dt.date  # within the month, <= the range end


def month_windows(start: dt.date, end: dt.date) -> list[MonthWindow]:
    """Every calendar month touching [start, end], clipped to it; empty when start > end."""
    windows = []
    month = first_of_month(start)
    while month <= end:
        windows.append(
            MonthWindow(month.year, month.month, max(month, start), min(last_of_month(month), end))
        )
        month = add_months(month, 1)
    return windows


def months_between(start: dt.date, end: dt.date) -> list[tuple[int, int]]:
    """(year, month) of every calendar month touching [start, end]."""
    return [(window.year, window.month) for window in month_windows(start, end)]


def months_spanned(start: dt.date, end: dt.date) -> int:
    """How many calendar months [start, end] touches."""
    return (end.year - start.year) * 12 + end.month - start.month + 1


def recent_months(months: int, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The days of the last `months` calendar months up to `as_of`: from the first day of the
    month `months - 1` before `as_of`'s month, to `as_of` itself."""
    return months_back(as_of, months - 1), as_of
