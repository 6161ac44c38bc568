"""Object names are built only from validated parts; hostile parts are refused, never filed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_helpers import COMPANY, FLOW, SELLER, summary

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import ServiceError
from services.storage import layout

SAFE_NAME = re.compile(r"[A-Za-z0-9_/.:-]+")
HOSTILE = [
    "",
    ".",
    "..",
    "../..",
    "/",
    "C25TEM/../../x",
    "C25TE\x00",
    "C25TEM\n",
    "C25TEM ",
    "c25tem",
    "C25TÉM",
    "C25TEM.v2",
    "%2e%2e",
    "A" * 10_000,
]


def test_a_valid_invoice_is_filed_by_company_flow_and_issue_month() -> None:
    place = layout.invoice_place(COMPANY, FLOW, summary(5104))

    assert place.stem == f"gdt_invoices/{COMPANY}/mua_vao_dien_tu/2025/09/{SELLER}-1-K25TEK-5104"
    assert layout.versioned_name(place.stem, 1, "json") == place.stem + ".json"
    assert layout.versioned_name(place.stem, 3, "xml") == place.stem + ".v3.xml"
    parsed = layout.parse_invoice_name(place.stem + ".v3.xml")
    assert parsed is not None
    assert (parsed.place, parsed.version, parsed.ext) == (place, 3, "xml")


@pytest.mark.parametrize("company", ["0102431848-003", "001203012345"])
def test_branch_and_personal_tax_codes_are_companies(company: str) -> None:
    assert layout.invoice_place(company, FLOW, summary()).company == company


def _set(path: str, value: object) -> Callable[[invoice_pb2.InvoiceSummary], None]:
    def change(invoice: invoice_pb2.InvoiceSummary) -> None:
        *parents, last = path.split(".")
        target: Any = invoice
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, last, value)

    return change


def _keep(invoice: invoice_pb2.InvoiceSummary) -> None:
    pass


@pytest.mark.parametrize(
    "field, company, flow, change, expected",
    [
        ("company_tax_code", "0102431849", FLOW, _keep, "valid tax code"),
        ("company_tax_code", "../0102431848", FLOW, _keep, "valid tax code"),
        ("flow", COMPANY, 0, _keep, "one of the four flows"),
        ("flow", COMPANY, 99, _keep, "one of the four flows"),
        ("invoice.key.form", COMPANY, FLOW, _set("key.form", 0), "1-9"),
        ("invoice.key.form", COMPANY, FLOW, _set("key.form", 10), "1-9"),
        ("invoice.key.number", COMPANY, FLOW, _set("key.number", 0), "must be 1-"),
        ("invoice.key.number", COMPANY, FLOW, _set("key.number", 10**12), "must be 1-"),
        ("invoice.key.number", COMPANY, FLOW, _set("key.number", -5), "must be 1-"),
        ("invoice.key.seller_tax_code", COMPANY, FLOW, _set("key.seller_tax_code", "1"), "tax"),
        ("invoice.issue_date", COMPANY, FLOW, _set("issue_date.day", 31), "valid date"),
        ("invoice.issue_date", COMPANY, FLOW, _set("issue_date.year", 0), "valid date"),
        ("invoice.issue_date", COMPANY, FLOW, _set("issue_date.year", 1999), "valid date"),
    ],
)
def test_each_bad_part_is_named(
    field: str,
    company: str,
    flow: int,
    change: Callable[[invoice_pb2.InvoiceSummary], None],
    expected: str,
) -> None:
    invoice = summary()  # 2025-09-22: day 31 does not exist in September
    change(invoice)

    with pytest.raises(ServiceError) as caught:
        layout.invoice_place(company, flow, invoice)

    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    violations = _violations(caught.value)
    assert list(violations) == [field]
    assert expected in violations[field]


@pytest.mark.parametrize("series", HOSTILE)
def test_hostile_series_are_refused(series: str) -> None:
    invoice = summary()
    invoice.key.series = series

    with pytest.raises(ServiceError) as caught:
        layout.invoice_place(COMPANY, FLOW, invoice)

    description = _violations(caught.value)["invoice.key.series"]
    assert len(description) < 200  # an absurd value is not echoed back in full
    assert "\x00" not in description and "\n" not in description


def test_every_problem_is_reported_at_once() -> None:
    invoice = invoice_pb2.InvoiceSummary(key=invoice_pb2.InvoiceKey(series="../x"))

    with pytest.raises(ServiceError) as caught:
        layout.invoice_place("..", 0, invoice)

    assert set(_violations(caught.value)) == {
        "company_tax_code",
        "flow",
        "invoice.key.seller_tax_code",
        "invoice.key.form",
        "invoice.key.series",
        "invoice.key.number",
        "invoice.issue_date",
    }


part_text = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    company=st.one_of(part_text, st.from_regex(r"\A\d{10}(-\d{3})?\Z|\A\d{12}\Z")),
    series=st.one_of(part_text, st.from_regex(r"\A[CK]\d{2}[A-Z]{3}\Z")),
    form=st.integers(-(2**31), 2**31 - 1),
    number=st.integers(-(2**63), 2**63 - 1),
    flow=st.integers(-3, 8),
)
def test_any_accepted_name_stays_inside_the_layout(
    company: str, series: str, form: int, number: int, flow: int
) -> None:
    invoice = summary()
    invoice.key.series, invoice.key.form, invoice.key.number = series, form, number
    try:
        place = layout.invoice_place(company, flow, invoice)
    except ServiceError as error:
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        return
    name = layout.versioned_name(place.stem, 2, "json")
    assert SAFE_NAME.fullmatch(name)
    assert ".." not in name and "//" not in name
    assert name.startswith(f"gdt_invoices/{company}/")
    parsed = layout.parse_invoice_name(name)
    assert parsed is not None and parsed.place == place


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(part_text, st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_:-]{0,127}\Z")))
def test_import_ids_and_buckets_cannot_escape(value: str) -> None:
    if layout.import_id_problem(value) is None:
        stem = layout.manifest_stem(COMPANY, value)
        assert SAFE_NAME.fullmatch(stem) and "." not in value and "/" not in value
    if layout.bucket_problem(value) is None:
        assert value == "" or re.fullmatch(r"[a-z0-9][a-z0-9_-]+[a-z0-9]", value)


def test_version_names_belong_to_their_stem_only() -> None:
    stem = "gdt_invoices/x/manifests/abc"
    assert layout.version_of(stem, "json", stem + ".json") == 1
    assert layout.version_of(stem, "json", stem + ".v12.json") == 12
    assert layout.version_of(stem, "json", stem + ".xml") is None
    assert layout.version_of(stem, "json", stem + "d.json") is None
    assert layout.version_of(stem, "json", stem + ".v1.json") is None
    assert layout.version_of(stem, "json", stem + ".v02.json") is None


def _violations(error: ServiceError) -> dict[str, str]:
    (detail,) = error.details
    return {v.field: v.description for v in detail.field_violations}  # type: ignore[attr-defined]
