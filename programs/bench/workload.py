"""The portal requests an import needs at the least: the physical bound on its time.

Counted from the sandbox's own data set (rebuilt in-process from the same spec, at the sandbox's
frozen clock), per company: a captcha and a login; per flow and month, one list query read in
pages of 50 (one page even when the month is empty); per invoice, its detail, and its XML export
when the portal holds an original. This is stricter than the mesh's own plan, which queries
electronic purchases once per `ttxly` (5, 6, 8) as most crawlers do: a smarter crawler could
not need fewer requests than this.
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
            for year, month in months_between(start, end):
                first = max(start, dt.date(year, month, 1))
                last = min(end, dt.date(year, month, calendar.monthrange(year, month)[1]))
                refs = dataset.refs(company, flow, first, last, now)
                with_original = sum(1 for ref in refs if ref.has_original)
                requests += max(1, math.ceil(len(refs) / PAGE_SIZE)) + len(refs) + with_original
                invoices += len(refs)
                originals += with_original
        per_company[company] = requests
    return Needed(per_company, invoices, originals)
