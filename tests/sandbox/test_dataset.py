"""The sandbox data set: shapes equal to the real portal's responses, consistent amounts, valid
tax codes, determinism, replacement chains, late purchase invoices, TT78 XML consistent with the
detail JSON, and a large spec that stays lazy."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gdtmesh.taxcode import is_valid_tax_code
from sandbox import rowschema
from sandbox.catalog import RATES
from sandbox.dataset import FAMILY, FLOWS, Dataset, DatasetSpec, InvoiceRef, NoOriginalError
from sandbox.layout import FlowLayout, vn_midnight_utc
from sandbox.parties import PROVIDERS
from sandbox.vnwords import amount_in_words, java_double

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "gdt-samples" / "responses"
TODAY = date(2026, 1, 20)
SPEC = DatasetSpec(seed=7, companies=4, invoices_per_company=900, months=3, today=TODAY)
FIRST_DAY = date(2025, 11, 1)
LATER = datetime(2026, 6, 1, tzinfo=UTC)  # everything is visible by then
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def sample(name: str) -> Any:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"real portal samples not found at {path} (a clone without ../shared)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(SPEC)


def every_ref(dataset: Dataset, now: datetime = LATER) -> Iterator[InvoiceRef]:
    for company in dataset.companies():
        for flow in company.flows:
            yield from dataset.refs(company.mst, flow, FIRST_DAY, TODAY, now)


@pytest.fixture(scope="module")
def refs(dataset: Dataset) -> list[InvoiceRef]:
    return list(every_ref(dataset))


@pytest.fixture(scope="module")
def details(dataset: Dataset, refs: list[InvoiceRef]) -> list[tuple[InvoiceRef, dict[str, Any]]]:
    return [(ref, dataset.detail(ref)) for ref in refs]


def of_flow(items: list[tuple[InvoiceRef, dict[str, Any]]], flow: str) -> list[dict[str, Any]]:
    return [detail for ref, detail in items if ref.flow == flow]


# -- shapes ------------------------------------------------------------------------------------


def sample_rows(family: str) -> list[dict[str, Any]]:
    if family == "query":
        rows = sample("purchase_list_electronic_page1.json")["datas"]
        rows += sample("sold_list_electronic_page1.json")["datas"]
        rows += [
            sample("detail_purchase_vat_multiline.json"),
            sample("detail_purchase_matching_invoice_xml.json"),
        ]
    else:
        rows = sample("purchase_list_sco_ttxly8_page1.json")["datas"]
        rows += [sample("detail_purchase_sco_cash_register.json")]
    return rows


def observed_types(rows: list[dict[str, Any]]) -> dict[str, set[type]]:
    types: dict[str, set[type]] = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("hdhhdvu", "qrcode"):
                types.setdefault(key, set()).add(type(value))
    return types


def test_rowschema_is_what_the_samples_show() -> None:
    assert list(rowschema.QUERY_PURCHASE_ROW_KEYS) == list(
        sample("purchase_list_electronic_page1.json")["datas"][0]
    )
    assert list(rowschema.QUERY_SOLD_ROW_KEYS) == list(
        sample("sold_list_electronic_page1.json")["datas"][0]
    )
    assert list(rowschema.SCO_ROW_KEYS) == list(
        sample("purchase_list_sco_ttxly8_page1.json")["datas"][0]
    )
    assert list(rowschema.QUERY_LINE_KEYS) == list(
        sample("detail_purchase_vat_multiline.json")["hdhhdvu"][0]
    )
    assert list(rowschema.SCO_LINE_KEYS) == list(
        sample("detail_purchase_sco_cash_register.json")["hdhhdvu"][0]
    )
    for family in ("query", "sco-query"):
        table = rowschema.row_types(family)
        for key, types in observed_types(sample_rows(family)).items():
            assert set(table[key]) == types, key


@pytest.mark.parametrize("flow", FLOWS)
def test_list_rows_have_the_real_key_order_and_types(
    dataset: Dataset, refs: list[InvoiceRef], flow: str
) -> None:
    family = FAMILY[flow]
    sample_keys = {
        "ban_ra_dien_tu": list(sample("sold_list_electronic_page1.json")["datas"][0]),
        "mua_vao_dien_tu": list(sample("purchase_list_electronic_page1.json")["datas"][0]),
    }.get(flow, list(sample("purchase_list_sco_ttxly8_page1.json")["datas"][0]))
    allowed = observed_types(sample_rows(family))
    for key, reference_types in rowschema.REFERENCE_TYPES.items():
        allowed[key] |= set(reference_types)
    if flow == "mua_vao_dien_tu":  # recorded in 2026, beyond the 2025 samples
        for key, recorded_types in rowschema.RECORDED_2026_TYPES.items():
            allowed[key] |= set(recorded_types)
    buyers_without_code = {
        key: set(extra) | allowed[key] for key, extra in rowschema.BUYER_WITHOUT_CODE_TYPES.items()
    }
    rows = [(ref, dataset.list_row(ref)) for ref in refs if ref.flow == flow]
    assert rows
    for ref, row in rows:
        added_in_2026 = flow == "mua_vao_dien_tu" and ref.tdlap.year >= 2026
        assert list(row) == sample_keys + list(rowschema.PURCHASE_KEYS_ADDED * added_in_2026)
        assert row["hdhhdvu"] is None and row["qrcode"] is None
        for key, value in row.items():
            if key in ("hdhhdvu", "qrcode"):
                continue
            without_code = row["nmmst"] is None and key in buyers_without_code
            types = buyers_without_code[key] if without_code else allowed[key]
            assert type(value) in types, (key, value)


@pytest.mark.parametrize("family", ["query", "sco-query"])
def test_detail_lines_have_the_real_shape(
    details: list[tuple[InvoiceRef, dict[str, Any]]], family: str
) -> None:
    name = (
        "detail_purchase_vat_multiline.json"
        if family == "query"
        else ("detail_purchase_sco_cash_register.json")
    )
    real = sample(name)
    line_types: dict[str, set[type]] = {}
    for line in real["hdhhdvu"] + (
        sample("detail_purchase_matching_invoice_xml.json")["hdhhdvu"] if family == "query" else []
    ):
        for key, value in line.items():
            line_types.setdefault(key, set()).add(type(value))
    assert {key: set(types) for key, types in rowschema.line_types(family).items()} == line_types
    rate_keys = list(real["thttltsuat"][0])
    checked = 0
    for ref, detail in details:
        if FAMILY[ref.flow] != family or not ref.has_original:
            continue
        sold = ref.flow.startswith("ban_ra")
        assert list(detail) == list(rowschema.row_keys(family, sold, ref.tdlap.year))
        assert isinstance(detail["qrcode"], str) and detail["hdhhdvu"]
        assert all(list(rate) == rate_keys for rate in detail["thttltsuat"])
        for line in detail["hdhhdvu"]:
            assert list(line) == list(real["hdhhdvu"][0])
            for key, value in line.items():
                assert type(value) in line_types[key], (key, value)
            assert line["idhdon"] == detail["id"] and line["tthue"] is None
            checked += 1
    assert checked > 50


def test_value_formats(details: list[tuple[InvoiceRef, dict[str, Any]]]) -> None:
    for ref, detail in details:
        assert detail["tdlap"] == f"{ref.tdlap - timedelta(days=1)}T17:00:00Z"
        assert detail["thlap"] == ref.tdlap.year * 100 + ref.tdlap.month
        assert UUID.fullmatch(detail["id"])
        assert re.fullmatch(r"V\d{10}[0-9A-F]{32}", detail["mtdtchieu"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detail["ncnhat"])
        assert datetime.fromisoformat(detail["ncnhat"]) == ref.visible_at
        recorded_2026 = ref.flow == "mua_vao_dien_tu" and ref.tdlap.year >= 2026
        for key in ("tgtcthue", "tgtthue", "tgtttbso"):
            kinds = (float, int) if recorded_2026 else float  # whole amounts as integers
            assert isinstance(detail[key], kinds) and detail[key] == int(detail[key])
        if ref.ttxly == 8:
            assert re.fullmatch(r"M1-\d\d-[A-Z]{5}-\d{11}", detail["mhdon"])
            assert detail["mhdon"].endswith(f"{ref.shdon:08d}")
            assert re.fullmatch(r"C\d\dM[A-Z]{2}", ref.khhdon)
        elif ref.ttxly == 5:
            assert re.fullmatch(r"00[0-9A-F]{32}", detail["mhdon"])
            assert re.fullmatch(r"C\d\dT[A-Z]{2}", ref.khhdon)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", detail["nky"])
        else:
            assert ref.ttxly == 6 and detail["mhdon"] is None
            assert re.fullmatch(r"K\d\dT[A-Z]{2}", ref.khhdon)
        assert ref.khhdon[1:3] == f"{ref.tdlap.year % 100:02d}"


def parse_qrcode(text: str) -> dict[str, str]:
    def tlv(data: str) -> dict[str, str]:
        fields, position = {}, 0
        while position < len(data):
            tag, size = data[position : position + 2], int(data[position + 2 : position + 4])
            fields[tag] = data[position + 4 : position + 4 + size]
            position += 4 + size
        return fields

    return tlv(tlv(text)["99"])


def test_qrcode_carries_the_key_date_and_total(
    details: list[tuple[InvoiceRef, dict[str, Any]]],
) -> None:
    real = parse_qrcode(sample("detail_purchase_sco_cash_register.json")["qrcode"])
    assert real["01"] == "0382112312" and real["06"] == "35000.0"
    for ref, detail in details:
        fields = parse_qrcode(detail["qrcode"])
        assert fields["01"] == ref.nbmst and fields["03"] == ref.khhdon
        assert fields["02"] == str(ref.khmshdon) and fields["04"] == str(ref.shdon)
        assert fields["05"] == f"{ref.tdlap:%Y%m%d}"
        assert fields["06"] == java_double(float(detail["tgtttbso"]))


def test_java_double_matches_the_portal() -> None:
    assert parse_qrcode(sample("detail_purchase_vat_multiline.json")["qrcode"])["06"] == (
        java_double(34105500.0)
    )
    assert java_double(3791700.0) == "3791700.0"


# -- amounts -----------------------------------------------------------------------------------


def line_tax(line: dict[str, Any]) -> float:
    info = {entry["ttruong"]: entry["dlieu"] for entry in line["ttkhac"]}
    for name in ("VATAmount", "TThue"):
        if name in info:
            return float(info[name])
    raise AssertionError(f"no line tax in {line['ttkhac']}")


def test_amounts_add_up(details: list[tuple[InvoiceRef, dict[str, Any]]]) -> None:
    for ref, detail in details:
        assert detail["tgtttbso"] == detail["tgtcthue"] + detail["tgtthue"]
        if not ref.has_original:
            continue
        lines = detail["hdhhdvu"]
        for line in lines:
            gross = int(line["sluong"] * line["dgia"] + 0.5)
            assert line["thtien"] == gross - line["stckhau"], line
            assert line["stckhau"] == int(gross * line["tlckhau"] / 100 + 0.5)
            assert line["tsuat"] == RATES[line["ltsuat"]]
            assert line_tax(line) == int(line["thtien"] * line["tsuat"] + 0.5)
        assert detail["tgtcthue"] == sum(line["thtien"] for line in lines)
        assert detail["tgtthue"] == sum(line_tax(line) for line in lines)
        per_rate = {rate["tsuat"]: rate for rate in detail["thttltsuat"]}
        assert set(per_rate) == {line["ltsuat"] for line in lines}
        for label, rate in per_rate.items():
            chosen = [line for line in lines if line["ltsuat"] == label]
            assert rate["thtien"] == sum(line["thtien"] for line in chosen)
            assert rate["tthue"] == sum(line_tax(line) for line in chosen)
        spellings = {
            normalised_words(amount_in_words(detail["tgtttbso"], provider.words))
            for provider in PROVIDERS.values()
        }
        assert normalised_words(detail["tgtttbchu"]) in spellings


def normalised_words(text: str) -> str:
    text = text.lower().replace("ngàn", "nghìn").replace(" lẻ ", " linh ")
    return re.sub(r"[ ./]*(chẵn)?[ ./]*$", "", text)


@pytest.mark.parametrize(
    "name",
    [
        "purchase_list_electronic_page1.json",
        "sold_list_electronic_page1.json",
        "purchase_list_sco_ttxly8_page1.json",
    ],
)
def test_amount_in_words_matches_real_invoices(name: str) -> None:
    for row in sample(name)["datas"]:
        if row["tgtttbchu"]:
            spellings = {
                normalised_words(amount_in_words(row["tgtttbso"], provider.words))
                for provider in PROVIDERS.values()
            }
            assert normalised_words(row["tgtttbchu"]) in spellings


# -- parties -----------------------------------------------------------------------------------


def test_tax_codes_are_valid(
    dataset: Dataset, details: list[tuple[InvoiceRef, dict[str, Any]]]
) -> None:
    assert all(is_valid_tax_code(company.mst) for company in dataset.companies())
    for ref, detail in details:
        assert is_valid_tax_code(ref.nbmst) and detail["nbmst"] == ref.nbmst
        assert ref.nmmst is None or is_valid_tax_code(ref.nmmst)
        assert is_valid_tax_code(detail["tvandnkntt"])
        assert ref.company in (ref.nbmst, ref.nmmst)


def test_demo_accounts(dataset: Dataset) -> None:
    accounts = {company.mst: company for company in dataset.companies()}
    locked = [company for company in accounts.values() if company.locked]
    assert len(locked) == 1 and locked[0].password == "Demo@2025"
    assert accounts["0106843521"].name == "CÔNG TY TNHH THƯƠNG MẠI VÀ DỊCH VỤ SEN VÀNG"
    assert accounts["0106843521"].flows == FLOWS
    assert "0105927137-001" in accounts
    assert len(accounts) == 5  # 4 demo accounts + 1 generated (companies=4 counts 3 active demo)
    assert dataset.company("0106843521") is accounts["0106843521"]
    assert dataset.company("0000000000") is None
    assert "Demo@2025" not in repr(accounts["0106843521"])
    for month in (11, 12, 1):
        for flow in FLOWS:
            year = 2026 if month == 1 else 2025
            assert dataset.truth("0106843521", flow, year, month, LATER), (flow, month)


def test_generated_accounts_have_seeded_passwords() -> None:
    first = Dataset(DatasetSpec(seed=1, companies=5, demo=False, today=date(2026, 1, 20)))
    again = Dataset(DatasetSpec(seed=1, companies=5, demo=False, today=date(2026, 1, 20)))
    other = Dataset(DatasetSpec(seed=2, companies=5, demo=False, today=date(2026, 1, 20)))
    assert [c.to_dict() for c in first.companies()] == [c.to_dict() for c in again.companies()]
    assert {c.mst for c in first.companies()} != {c.mst for c in other.companies()}
    assert len({c.password for c in first.companies()}) == 5
    assert not any(company.locked for company in first.companies())
    assert set(first.companies()[0].to_dict()) == {
        "mst",
        "password",
        "name",
        "address",
        "locked",
        "flows",
    }


def test_flows_mix_ttxly_and_buyer_kinds(refs: list[InvoiceRef]) -> None:
    by_flow: dict[str, set[int]] = {}
    for ref in refs:
        by_flow.setdefault(ref.flow, set()).add(ref.ttxly)
    assert by_flow == {
        "ban_ra_dien_tu": {5},
        "ban_ra_may_tinh_tien": {8},
        "mua_vao_dien_tu": {5, 6},
        "mua_vao_may_tinh_tien": {8},
    }
    purchases = [ref for ref in refs if ref.flow == "mua_vao_dien_tu"]
    assert sum(ref.ttxly == 5 for ref in purchases) > sum(ref.ttxly == 6 for ref in purchases)
    assert any(not ref.has_original for ref in purchases)
    assert all(ref.has_original for ref in refs if ref.ttxly != 6)
    assert any(ref.nmmst is None for ref in refs if ref.flow == "ban_ra_may_tinh_tien")


def test_rows_without_original_are_summary_only(dataset: Dataset, refs: list[InvoiceRef]) -> None:
    summary = [ref for ref in refs if not ref.has_original]
    for ref in summary:
        detail = dataset.detail(ref)
        assert detail["hsgoc"] is None and detail["hdhhdvu"] == [] and detail["ttxly"] == 6
        with pytest.raises(NoOriginalError):
            dataset.export_zip(ref)


# -- determinism and lookups -------------------------------------------------------------------


def test_deterministic_from_the_seed(refs: list[InvoiceRef]) -> None:
    again = Dataset(SPEC)
    assert list(every_ref(again)) == refs
    sample_refs = refs[::97]
    fresh = Dataset(SPEC)
    for ref in sample_refs:
        assert again.detail(ref) == fresh.detail(ref)
        if ref.has_original:
            assert again.export_zip(ref) == fresh.export_zip(ref)
    other = Dataset(DatasetSpec(**{**SPEC.__dict__, "seed": 8}))
    assert list(every_ref(other))[:50] != refs[:50]


def test_refs_are_sorted_filtered_and_found_again(dataset: Dataset) -> None:
    now = datetime(2025, 12, 10, 5, tzinfo=UTC)
    for company in dataset.companies():
        for flow in company.flows:
            found = dataset.refs(company.mst, flow, date(2025, 11, 1), date(2025, 11, 30), now)
            assert [(r.tdlap, r.shdon) for r in found] == sorted(
                ((r.tdlap, r.shdon) for r in found), reverse=True
            )
            assert len({(r.nbmst, r.khhdon, r.shdon) for r in found}) == len(found)
            for ref in found:
                assert date(2025, 11, 1) <= ref.tdlap <= date(2025, 11, 30)
                assert ref.visible_at <= now
                again = dataset.find(
                    company.mst, FAMILY[flow], ref.nbmst, ref.khhdon, ref.shdon, ref.khmshdon, now
                )
                assert again == ref
            assert dataset.truth(company.mst, flow, 2025, 11, now) == [r.key() for r in found]


def test_cached_days_equal_refs_built_one_by_one(dataset: Dataset) -> None:
    for company in dataset.companies()[:2]:
        for flow in company.flows:
            layout = dataset._layout(company.mst, flow)
            for day in range(layout.days):
                for ref, successor_at in layout.day_entries(day):
                    assert layout.ref_at(ref.index, LATER) == ref
                    pair = layout.pair_at(ref.index)
                    is_original = pair is not None and pair.original == ref.index
                    assert (successor_at is not None) == is_original


def test_find_rejects_what_does_not_exist(dataset: Dataset, refs: list[InvoiceRef]) -> None:
    ref = next(r for r in refs if r.flow == "mua_vao_dien_tu")
    family = FAMILY[ref.flow]
    assert dataset.find(ref.company, family, ref.nbmst, ref.khhdon, ref.shdon, 2, LATER) is None
    assert (
        dataset.find(ref.company, family, ref.nbmst, ref.khhdon, ref.shdon + 10**9, 1, LATER)
        is None
    )
    assert (
        dataset.find(ref.company, "sco-query", ref.nbmst, ref.khhdon, ref.shdon, 1, LATER) is None
    )
    assert dataset.find("0000000000", family, ref.nbmst, ref.khhdon, ref.shdon, 1, LATER) is None
    assert dataset.find(ref.company, family, ref.nbmst, "bad", 1, 1, LATER) is None
    with pytest.raises(ValueError):
        dataset.find(ref.company, "other", ref.nbmst, ref.khhdon, ref.shdon, 1, LATER)
    with pytest.raises(ValueError):
        dataset.refs(ref.company, "other", FIRST_DAY, TODAY, LATER)
    assert dataset.refs("0000000000", ref.flow, FIRST_DAY, TODAY, LATER) == []


def test_series_restart_with_the_year(refs: list[InvoiceRef]) -> None:
    sold = [ref for ref in refs if ref.flow == "ban_ra_dien_tu" and ref.company == "0106843521"]
    january = [ref.shdon for ref in sold if ref.tdlap.year == 2026]
    december = [ref.shdon for ref in sold if ref.tdlap.year == 2025]
    assert min(january) == 1 and max(december) > max(january)
    assert sorted(ref.shdon for ref in sold if ref.tdlap.year == 2025) == list(
        range(min(december), max(december) + 1)
    )


def test_replacements_reference_their_originals(dataset: Dataset, refs: list[InvoiceRef]) -> None:
    successors = [ref for ref in refs if ref.tthai in (2, 3)]
    assert {ref.tthai for ref in successors} == {2, 3}
    seen_before_replacement = 0
    for ref in successors:
        detail = dataset.detail(ref)
        original = dataset.find(
            ref.company,
            FAMILY[ref.flow],
            ref.nbmst,
            detail["khhdgoc"],
            detail["shdgoc"],
            int(detail["khmshdgoc"]),
            LATER,
        )
        assert original is not None and original.flow == ref.flow
        assert original.tthai == (4 if ref.tthai == 2 else 5)
        assert detail["tdlhdgoc"] == f"{original.tdlap - timedelta(days=1)}T17:00:00Z"
        assert detail["lhdgoc"] == 1 and original.nmmst == ref.nmmst
        assert original.tdlap <= ref.tdlap
        before = ref.visible_at - timedelta(milliseconds=1)
        earlier = dataset.find(
            ref.company,
            FAMILY[ref.flow],
            original.nbmst,
            original.khhdon,
            original.shdon,
            original.khmshdon,
            before,
        )
        if earlier is not None:  # the original itself was visible then: not yet replaced
            assert earlier.tthai == 1
            listed = dataset.refs(ref.company, ref.flow, original.tdlap, original.tdlap, before)
            assert next(r for r in listed if r.index == original.index).tthai == 1
            assert dataset.list_row(earlier)["tthai"] == 1
            seen_before_replacement += 1
    assert seen_before_replacement > 0


def test_late_purchase_invoices_appear_later(dataset: Dataset, refs: list[InvoiceRef]) -> None:
    late = [ref for ref in refs if ref.visible_at - vn_midnight_utc(ref.tdlap) > timedelta(days=2)]
    assert late and all(ref.flow.startswith("mua_vao") for ref in late)
    assert max(ref.visible_at - vn_midnight_utc(ref.tdlap) for ref in late) <= timedelta(days=22)
    for ref in late[:40]:
        before = ref.visible_at - timedelta(seconds=1)
        month = (ref.tdlap.year, ref.tdlap.month)
        key = ref.key()
        assert key not in dataset.truth(ref.company, ref.flow, *month, before)
        assert key in dataset.truth(ref.company, ref.flow, *month, ref.visible_at)
        family = FAMILY[ref.flow]
        assert (
            dataset.find(ref.company, family, ref.nbmst, ref.khhdon, ref.shdon, 1, before) is None
        )
        assert (
            dataset.find(ref.company, family, ref.nbmst, ref.khhdon, ref.shdon, 1, ref.visible_at)
            is not None
        )


# -- TT78 export -------------------------------------------------------------------------------


def xml_text(root: ET.Element, path: str) -> str | None:
    element = root.find(path)
    return None if element is None else element.text


def test_export_zip_is_consistent_with_the_detail(
    dataset: Dataset, details: list[tuple[InvoiceRef, dict[str, Any]]]
) -> None:
    chosen = [pair for pair in details if pair[0].has_original][::23]
    assert {ref.ttxly for ref, _ in chosen} == {5, 6, 8}
    for ref, detail in chosen:
        archive = zipfile.ZipFile(io.BytesIO(dataset.export_zip(ref)))
        assert set(archive.namelist()) == {"invoice.xml", "invoice.html", "static/invoice.css"}
        text = archive.read("invoice.xml").decode()
        assert text.startswith('<HDon>\n\t<DLHDon Id="DuLieuKy">\n\t\t<TTChung>')
        root = ET.fromstring(text)
        general, content = "DLHDon/TTChung/", "DLHDon/NDHDon/"
        assert xml_text(root, general + "KHHDon") == ref.khhdon
        assert xml_text(root, general + "SHDon") == str(ref.shdon)
        assert xml_text(root, general + "KHMSHDon") == str(ref.khmshdon)
        assert xml_text(root, general + "NLap") == ref.tdlap.isoformat()
        assert xml_text(root, content + "NBan/MST") == ref.nbmst
        assert xml_text(root, content + "NBan/Ten") == detail["nbten"]
        assert xml_text(root, content + "NMua/MST") == ref.nmmst
        assert xml_text(root, content + "NMua/Ten") == detail["nmten"]
        items = root.findall(content + "DSHHDVu/HHDVu")
        assert [xml_text(item, "THHDVu") for item in items] == [
            line["ten"] for line in detail["hdhhdvu"]
        ]
        assert [float(xml_text(item, "ThTien") or "nan") for item in items] == [
            line["thtien"] for line in detail["hdhhdvu"]
        ]
        for tag, key in (
            ("TgTCThue", "tgtcthue"),
            ("TgTThue", "tgtthue"),
            ("TgTTTBSo", "tgtttbso"),
        ):
            assert float(xml_text(root, f"{content}TToan/{tag}") or "nan") == detail[key]
        assert xml_text(root, content + "TToan/TgTTTBChu") == detail["tgtttbchu"]
        assert xml_text(root, "MCCQT") == detail["mhdon"]
        if detail.get("nbcks"):
            subject = xml_text(
                root,
                "DSCKS/NBan/{http://www.w3.org/2000/09/xmldsig#}Signature/"
                "{http://www.w3.org/2000/09/xmldsig#}KeyInfo/"
                "{http://www.w3.org/2000/09/xmldsig#}X509Data/"
                "{http://www.w3.org/2000/09/xmldsig#}X509SubjectName",
            )
            assert subject == json.loads(detail["nbcks"])["Subject"]
        if detail.get("khhdgoc"):
            assert xml_text(root, general + "TTHDLQuan/SHDCLQuan") == str(detail["shdgoc"])
        page = archive.read("invoice.html").decode()
        assert ref.khhdon in page and detail["nbten"] in page


def element_paths(element: ET.Element, prefix: str = "") -> set[str]:
    path = f"{prefix}/{element.tag.split('}')[-1]}"
    return {path}.union(*(element_paths(child, path) for child in element))


def test_xml_has_the_structure_of_the_real_file(dataset: Dataset, refs: list[InvoiceRef]) -> None:
    path = SAMPLES / "invoice.xml"
    if not path.exists():
        pytest.skip(f"real invoice.xml not found at {path}")
    real = element_paths(ET.fromstring(path.read_text(encoding="utf-8")))
    uncoded = next(ref for ref in refs if ref.ttxly == 6 and ref.has_original)
    root = ET.fromstring(
        zipfile.ZipFile(io.BytesIO(dataset.export_zip(uncoded))).read("invoice.xml")
    )
    ours = element_paths(root)
    # Optional elements the sample's seller leaves out (bank, e-mail) may be added.
    assert real - ours <= {"/HDon/DLHDon/NDHDon/NMua/MKHang"}
    coded = next(ref for ref in refs if ref.ttxly == 5 and ref.flow == "mua_vao_dien_tu")
    root = ET.fromstring(zipfile.ZipFile(io.BytesIO(dataset.export_zip(coded))).read("invoice.xml"))
    assert {"/HDon/MCCQT", "/HDon/DSCKS/CQT/Signature/SignedInfo"} <= element_paths(root)


# -- scale -------------------------------------------------------------------------------------


def test_large_spec_is_lazy_and_refs_touch_only_the_range(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DatasetSpec(
        seed=3,
        companies=1000,
        invoices_per_company=10000,
        months=3,
        today=date(2026, 1, 20),
        demo=False,
    )
    tracemalloc.start()
    dataset = Dataset(spec)
    company = dataset.companies()[500]
    built = 0
    original_ref = FlowLayout._ref

    def counting_ref(self: FlowLayout, *args: Any) -> InvoiceRef:
        nonlocal built
        built += 1
        return original_ref(self, *args)

    monkeypatch.setattr(FlowLayout, "_ref", counting_ref)
    found = dataset.refs(
        company.mst, "mua_vao_dien_tu", date(2025, 12, 1), date(2025, 12, 31), LATER
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(dataset.companies()) == 1000
    assert peak < 40 * 2**20
    layout = dataset._layout(company.mst, "mua_vao_dien_tu")
    in_range = (
        layout.cum[(date(2026, 1, 1) - FIRST_DAY).days]
        - layout.cum[(date(2025, 12, 1) - FIRST_DAY).days]
    )
    assert built == in_range == len(found) and 0 < len(found) < layout.count
    assert sum(dataset._layout(company.mst, flow).count for flow in company.flows) == 10000
    built = 0
    assert (
        dataset.refs(company.mst, "mua_vao_dien_tu", date(2025, 12, 1), date(2025, 12, 31), LATER)
        == found
    )
    assert built == 0  # the second listing is served from the per-day cache
