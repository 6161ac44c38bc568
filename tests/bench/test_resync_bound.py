"""The resync benchmark's bound: what a resync must ask the portal at the least, from the
sandbox's own data set."""

from __future__ import annotations

import datetime as dt

from programs.bench.scenario import Workload
from programs.bench.workload import LOGIN_REQUESTS, dataset_for, resync_needed
from sandbox.model import FLOWS

WORKLOAD = Workload(companies=10, invoices=100, months=2, today=dt.date(2025, 9, 30))
NOW = dt.datetime(2025, 9, 30, 17, tzinfo=dt.UTC)
START, END = dt.date(2025, 8, 1), dt.date(2025, 9, 30)


def companies() -> list[str]:
    return [company.mst for company in dataset_for(WORKLOAD).companies()]


def test_with_nothing_changed_a_resync_needs_only_logins_and_list_pages() -> None:
    msts = companies()
    needed = resync_needed(WORKLOAD, msts, START, END, NOW, NOW)
    assert (needed.new, needed.changed, needed.originals) == (0, 0, 0)
    pages = needed.per_company[msts[0]] - LOGIN_REQUESTS
    assert pages >= 2 * 6  # 2 months x (2 sold + 3 electronic-purchase ttxly + 1 cash) queries
    # listed in one query, electronic purchases need fewer pages
    assert needed.single_query_total < needed.total
    session_kept = resync_needed(WORKLOAD, msts, START, END, NOW, NOW, login_requests=0)
    assert session_kept.total == needed.total - len(msts) * LOGIN_REQUESTS


def test_a_week_later_it_needs_a_download_for_each_new_or_changed_invoice() -> None:
    msts = companies()
    since = NOW - dt.timedelta(days=7)
    quiet = resync_needed(WORKLOAD, msts, START, END, NOW, NOW)
    needed = resync_needed(WORKLOAD, msts, START, END, since, NOW)
    dataset = dataset_for(WORKLOAD)
    new = changed = 0
    for mst in msts:
        for flow in FLOWS:
            for year, month in ((2025, 8), (2025, 9)):
                arrived, moved = dataset.changes(mst, flow, year, month, since, NOW)
                new, changed = new + len(arrived), changed + len(moved)
    assert new and changed, (new, changed)  # the week brings both kinds
    assert (needed.new, needed.changed) == (new, changed)
    downloads = needed.new + needed.changed + needed.originals
    assert needed.total == quiet.total + downloads
