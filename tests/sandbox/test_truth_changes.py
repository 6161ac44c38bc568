"""The ground truth says what changed over time: late arrivals and originals replaced or
adjusted since a moment, as the portal lists them now."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sandbox.dataset import Dataset
from sandbox.model import DatasetSpec

TODAY = date(2026, 11, 30)


def test_a_week_brings_late_invoices_and_replaced_originals() -> None:
    dataset = Dataset(DatasetSpec(today=TODAY))
    since = datetime(2026, 11, 20, tzinfo=UTC)
    now = since + timedelta(days=7)
    new, changed = [], []
    for company in dataset.companies():
        for flow in company.flows:
            found = dataset.changes(company.mst, flow, 2026, 11, since, now)
            new += found[0]
            changed += found[1]
            listed_before = {
                tuple(k.values()) for k in dataset.truth(company.mst, flow, 2026, 11, since)
            }
            assert not {tuple(k.values()) for k in found[0]} & listed_before
    assert new and changed  # both kinds happen in a week of the demo data
    assert not dataset.changes(dataset.companies()[0].mst, "mua_vao_dien_tu", 2026, 11, now, now)[0]
