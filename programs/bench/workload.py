"""The portal requests an import needs at the least: the physical bound on its time.

Counted from the sandbox's own data set (rebuilt in-process from the same spec, at the sandbox's
frozen clock), per company: a captcha and a login; per flow and month, one list query read in
pages of 50 (one page even when the month is empty); per invoice, its detail, and its XML export
when the portal holds an original. This is stricter than the mesh's own plan, which queries
electronic purchases once per `ttxly` (5, 6, 8) as most crawlers do: a smarter crawler could
not need fewer requests than this.

A resync's bound (`resync_needed`) counts again a login and every list page, and a detail (and
XML) only for the invoices new or changed since the import before it.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from gdtmesh.vncalendar import months_between
from programs.bench.scenario import Workload
from sandbox.dataset import FLOWS, Dataset, DatasetSpec
from sandbox.model import InvoiceRef

PAGE_SIZE = 50
LOGIN_REQUESTS = 2  # captcha + authenticate


@dataclass(frozen=True)
class Needed:
    """Requests needed per company, and how many invoices (and originals) they are."""

    per_company: dict[str, int]
    invoices: int
    originals: int

    @property
    def total(self) -> int:
        return sum(self.per_company.values())

    def bound_s(self, global_rate: float, account_rate: float) -> float:
        """Shortest possible time: the global budget for all requests, and each account's
        budget for its own (the larger of the two)."""
        busiest = max(self.per_company.values(), default=0)
        return max(self.total / global_rate, busiest / account_rate)


def dataset_for(workload: Workload) -> Dataset:
    return Dataset(
        DatasetSpec(
            seed=workload.seed,
            companies=workload.companies,
            invoices_per_company=workload.invoices,
            months=workload.months,
            today=workload.today,
            demo=False,
        )
    )


def needed_requests(
    workload: Workload, companies: Iterable[str], start: dt.date, end: dt.date, now: dt.datetime
) -> Needed:
    """Requests needed to import `companies` over [start, end] as the portal stood at `now`."""
    dataset = dataset_for(workload)
    per_company: dict[str, int] = {}
    invoices = originals = 0
    for company in companies:
        requests = LOGIN_REQUESTS
        for flow in FLOWS:
            for first, last in _month_windows(start, end):
                refs = dataset.refs(company, flow, first, last, now)
                with_original = sum(1 for ref in refs if ref.has_original)
                requests += _pages(len(refs)) + len(refs) + with_original
                invoices += len(refs)
                originals += with_original
        per_company[company] = requests
    return Needed(per_company, invoices, originals)


# The portal UI forces a `ttxly` choice for electronic purchases: one query each, as the mesh
# queries them (gdt-portal.md; whether a query without it works is disputed).
PURCHASE_QUERIES = {"mua_vao_dien_tu": (5, 6, 8)}


@dataclass(frozen=True)
class ResyncNeeded:
    """Requests a resync needs at the least, and what changed on the portal since the import."""

    per_company: dict[str, int]  # purchases listed per ttxly, as the portal UI requires
    single_query_total: int  # one list query per flow and month (the stricter formula)
    new: int
    changed: int
    originals: int  # of the new and changed, those with an XML to export

    @property
    def total(self) -> int:
        return sum(self.per_company.values())


def resync_needed(
    workload: Workload,
    companies: Iterable[str],
    start: dt.date,
    end: dt.date,
    since: dt.datetime,
    now: dt.datetime,
    login_requests: int = LOGIN_REQUESTS,
) -> ResyncNeeded:
    """Requests needed at `now` to resync `companies` over [start, end], imported as the portal
    stood at `since`: a login (none while the import's session is still valid), every list
    page again, a detail (and its XML when there is an original) of each invoice listed only
    now or whose status changed."""
    dataset = dataset_for(workload)
    per_company: dict[str, int] = {}
    single = new = changed = originals = 0
    for company in companies:
        requests = login_requests
        for flow in FLOWS:
            for first, last in _month_windows(start, end):
                listed = dataset.refs(company, flow, first, last, now)
                before = {
                    _identity(ref): ref.tthai
                    for ref in dataset.refs(company, flow, first, last, since)
                }
                moved = [ref for ref in listed if before.get(_identity(ref)) != ref.tthai]
                downloads = len(moved) + sum(ref.has_original for ref in moved)
                requests += _list_pages(flow, listed) + downloads
                single += _pages(len(listed)) + downloads
                new += sum(_identity(ref) not in before for ref in moved)
                changed += sum(_identity(ref) in before for ref in moved)
                originals += sum(ref.has_original for ref in moved)
        per_company[company] = requests
        single += login_requests
    return ResyncNeeded(per_company, single, new, changed, originals)


def _month_windows(start: dt.date, end: dt.date) -> Iterable[tuple[dt.date, dt.date]]:
    for year, month in months_between(start, end):
        last_day = dt.date(year, month, calendar.monthrange(year, month)[1])
        yield max(start, dt.date(year, month, 1)), min(end, last_day)


def _identity(ref: InvoiceRef) -> tuple[str, int, str, int]:
    return (ref.nbmst, ref.khmshdon, ref.khhdon, ref.shdon)


def _pages(rows: int) -> int:
    return max(1, math.ceil(rows / PAGE_SIZE))  # an empty query still costs its first page


def _list_pages(flow: str, listed: list[InvoiceRef]) -> int:
    queries = PURCHASE_QUERIES.get(flow)
    if queries is None:
        return _pages(len(listed))
    return sum(_pages(sum(ref.ttxly == ttxly for ref in listed)) for ttxly in queries)
