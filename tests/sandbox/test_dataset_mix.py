"""The sandbox's purchase data has the mix real captures show: invoices of different sellers
that share form, series and number (twins), and invoices received without a code (ttxly 6) of
which about a quarter are full records with an original."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from sandbox.dataset import Dataset
from sandbox.model import FAMILY, DatasetSpec, InvoiceRef

TODAY = date(2026, 11, 30)
NOW = datetime(2026, 12, 31, tzinfo=UTC)
PURCHASES = ("mua_vao_dien_tu", "mua_vao_may_tinh_tien")


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(DatasetSpec(today=TODAY, companies=8))


def _refs(dataset: Dataset, flow: str) -> list[InvoiceRef]:
    found: list[InvoiceRef] = []
    for company in dataset.companies():
        if flow in company.flows and not company.locked:
            found += dataset.refs(company.mst, flow, date(2026, 9, 1), TODAY, NOW)
    return found


def test_about_one_purchase_invoice_in_six_has_a_twin_each_its_own_invoice(
    dataset: Dataset,
) -> None:
    refs = [ref for flow in PURCHASES for ref in _refs(dataset, flow)]

    def name(r: InvoiceRef) -> tuple[object, ...]:  # a folder and a name without the seller
        return (r.company, r.flow, r.tdlap.month, r.khmshdon, r.khhdon, r.shdon)

    names = Counter(map(name, refs))
    twins = [ref for ref in refs if names[name(ref)] > 1]
    assert 0.1 <= len(twins) / len(refs) <= 0.3, len(twins) / len(refs)
    keys = Counter((r.company, r.flow, r.nbmst, r.khmshdon, r.khhdon, r.shdon) for r in refs)
    assert max(keys.values()) == 1  # a twin is another seller's invoice, never a copy
    for ref in twins:  # each is found by its own key, as the detail endpoint looks it up
        found = dataset.find(
            ref.company, FAMILY[ref.flow], ref.nbmst, ref.khhdon, ref.shdon, ref.khmshdon, NOW
        )
        assert found is not None and (found.flow, found.index) == (ref.flow, ref.index)


def test_about_a_quarter_of_uncoded_invoices_are_full_records(dataset: Dataset) -> None:
    uncoded = [ref for ref in _refs(dataset, "mua_vao_dien_tu") if ref.ttxly == 6]
    full = [ref for ref in uncoded if ref.has_original]
    assert 0.15 <= len(full) / len(uncoded) <= 0.4, len(full) / len(uncoded)
    for ref in full[:20]:
        detail = dataset.detail(ref)
        assert detail["hsgoc"] and detail["hdhhdvu"]  # an original to export, line items
    for ref in [ref for ref in uncoded if not ref.has_original][:20]:
        detail = dataset.detail(ref)
        assert detail["hsgoc"] is None and detail["hdhhdvu"] == []


def test_purchase_invoices_look_as_recorded_in_2026(dataset: Dataset) -> None:
    """139 keys, stamps and tickets (form 5), "VNĐ" and foreign currencies with their rate, and
    whole amounts as JSON integers: each present, so every consumer meets them."""
    details = [dataset.detail(ref) for ref in _refs(dataset, "mua_vao_dien_tu")]
    assert {len(detail) for detail in details} == {139}
    assert {(d["khmshdon"], d["hdon"]) for d in details} == {(1, "01"), (5, "05")}
    currencies = Counter(d["dvtte"] for d in details if d["hsgoc"])
    assert {"VND", "VNĐ", "USD"} <= currencies.keys()
    assert {d["tgia"] for d in details if d["dvtte"] == "USD"} == {26110.0}
    assert any(isinstance(d["tgtttbso"], int) for d in details)
    assert any(isinstance(d["tgtttbso"], float) for d in details)
