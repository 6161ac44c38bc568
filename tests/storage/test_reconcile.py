"""Reconcile: what the bucket holds for a company, flow and month against what was expected."""

from __future__ import annotations

import grpc
import pytest
from storage_helpers import (
    COMPANY,
    FLOW,
    FOLDER,
    SELLER,
    Harness,
    detail,
    key,
    write_request,
    xml,
)

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.storage.v1 import storage_pb2

OTHER_SELLER = "0320070711-003"
P = storage_pb2


async def put(harness: Harness, name: str, data: bytes) -> None:
    await harness.put(FOLDER + name, data)


async def reconcile(
    harness: Harness, expected: list[invoice_pb2.InvoiceKey], month: int = 9
) -> storage_pb2.ReconcileResponse:
    request = storage_pb2.ReconcileRequest(
        company_tax_code=COMPANY,
        flow=FLOW,
        month=invoice_pb2.YearMonth(year=2025, month=month),
        expected=expected,
    )
    return await harness.stub.Reconcile(request, timeout=30)


async def test_a_complete_folder_reconciles_cleanly(harness: Harness) -> None:
    for number in (1, 2, 3):
        await harness.write(write_request(number))
    await harness.write(write_request(4, with_xml=False, body=detail(4, hsgoc=None)))

    report = await reconcile(harness, [key(n) for n in (4, 3, 2, 1)])

    assert report.prefix == FOLDER
    assert (report.object_count, report.expected_count, report.found_count) == (7, 4, 4)
    assert not (report.missing or report.duplicates or report.mismatched or report.extra)
    assert report.versioned_count == 0


async def test_missing_and_extra_invoices_are_listed(harness: Harness) -> None:
    await harness.write(write_request(1))
    await harness.write(write_request(9))

    report = await reconcile(harness, [key(1), key(2), key(3)])

    assert list(report.missing) == [key(2), key(3)]
    assert [(item.key, list(item.names)) for item in report.extra] == [
        (key(9), [FOLDER + f"{SELLER}-1-K25TEK-9.json"])
    ]
    assert (report.found_count, report.expected_count) == (1, 3)


async def test_identical_copies_are_duplicates_and_changed_ones_are_versions(
    harness: Harness,
) -> None:
    await harness.write(write_request(1))
    await put(harness, f"{SELLER}-1-K25TEK-1.v2.json", detail(1))  # an idempotency failure
    await harness.write(write_request(2))
    await harness.write(write_request(2, body=detail(2, tthai=4)))  # a real change

    report = await reconcile(harness, [key(1), key(2)])

    assert [(item.key, list(item.names)) for item in report.duplicates] == [
        (key(1), [FOLDER + f"{SELLER}-1-K25TEK-1.json", FOLDER + f"{SELLER}-1-K25TEK-1.v2.json"])
    ]
    assert report.versioned_count == 1
    assert report.found_count == 2
    assert not (report.missing or report.mismatched or report.extra)


def _twin(seller: str, with_xml: bool) -> P.WriteInvoiceRequest:
    """Invoice 5 of series K25TEK from `seller`: every seller numbers from 1, so two sellers'
    invoices share form, series and number (twins), each with its own original."""
    body = None if with_xml else detail(5, seller=seller, hsgoc=None)
    request = write_request(5, seller=seller, with_xml=with_xml, body=body)
    if with_xml:
        request.original_xml = f"<HDon><NBan><MST>{seller}</MST></NBan></HDon>".encode()
    return request


@pytest.mark.parametrize("first_with_xml", [True, False], ids=["xml-first", "bare-first"])
async def test_twins_of_two_sellers_each_land_under_their_own_name(
    harness: Harness, first_with_xml: bool
) -> None:
    first = await harness.write(_twin(SELLER, with_xml=first_with_xml))
    second = await harness.write(_twin(OTHER_SELLER, with_xml=not first_with_xml))

    assert P.WRITE_OUTCOME_WRITTEN == first.detail.outcome == second.detail.outcome
    names = {
        seller: stored.detail.name for seller, stored in ((SELLER, first), (OTHER_SELLER, second))
    }
    assert names == {seller: FOLDER + f"{seller}-1-K25TEK-5.json" for seller in names}
    with_xml = first if first_with_xml else second
    owner = SELLER if first_with_xml else OTHER_SELLER
    assert with_xml.original.name == FOLDER + f"{owner}-1-K25TEK-5.xml"  # beside its own detail
    stored_xml = await harness.store.read(harness.bucket, with_xml.original.name)
    assert owner.encode() in stored_xml
    report = await reconcile(harness, [key(5), key(5, seller=OTHER_SELLER)])
    assert report.found_count == 2 and report.versioned_count == 0
    assert not (report.missing or report.duplicates or report.mismatched or report.extra)


async def test_a_deleted_original_of_one_twin_is_reported(harness: Harness) -> None:
    await harness.write(_twin(SELLER, with_xml=True))
    await harness.write(_twin(OTHER_SELLER, with_xml=True))
    harness.delete(FOLDER + f"{OTHER_SELLER}-1-K25TEK-5.xml")

    report = await reconcile(harness, [key(5), key(5, seller=OTHER_SELLER)])

    assert [(item.name, item.problem) for item in report.mismatched] == [
        (FOLDER + f"{OTHER_SELLER}-1-K25TEK-5.json", P.RECONCILE_PROBLEM_MISSING_ORIGINAL)
    ]


async def test_inconsistent_objects_are_mismatched(harness: Harness) -> None:
    await put(harness, "notes.txt", b"hello")
    await put(harness, f"{SELLER}-1-K25TEK-2.json", b"not json")
    await put(harness, f"{SELLER}-1-K25TEK-3.json", detail(4))  # name and content disagree
    await put(harness, f"{SELLER}-1-K25TEK-5.json", detail(5, tdlap="2025-10-01T17:00:00Z"))
    await put(harness, f"{SELLER}-1-K25TEK-6.json", detail(6, hsgoc=None))
    await put(harness, f"{SELLER}-1-K25TEK-6.xml", xml(6))
    await put(harness, f"{SELLER}-1-K25TEK-7.json", detail(7))  # announces an original, none stored
    await put(harness, f"{SELLER}-1-K25TEK-8.xml", xml(8))
    await put(harness, f"sub/{SELLER}-1-K25TEK-9.json", detail(9))

    report = await reconcile(harness, [key(n) for n in range(2, 10)])

    found = [(item.name.removeprefix(FOLDER), item.problem) for item in report.mismatched]
    assert found == [
        (f"{SELLER}-1-K25TEK-2.json", P.RECONCILE_PROBLEM_UNREADABLE_DETAIL),
        (f"{SELLER}-1-K25TEK-3.json", P.RECONCILE_PROBLEM_KEY_MISMATCH),
        (f"{SELLER}-1-K25TEK-5.json", P.RECONCILE_PROBLEM_WRONG_MONTH),
        (f"{SELLER}-1-K25TEK-6.xml", P.RECONCILE_PROBLEM_UNEXPECTED_ORIGINAL),
        (f"{SELLER}-1-K25TEK-7.json", P.RECONCILE_PROBLEM_MISSING_ORIGINAL),
        (f"{SELLER}-1-K25TEK-8.xml", P.RECONCILE_PROBLEM_ORPHAN_ORIGINAL),
        ("notes.txt", P.RECONCILE_PROBLEM_UNPARSEABLE_NAME),
        (f"sub/{SELLER}-1-K25TEK-9.json", P.RECONCILE_PROBLEM_UNPARSEABLE_NAME),
    ]
    descriptions = {item.name.removeprefix(FOLDER): item.description for item in report.mismatched}
    assert (
        descriptions[f"{SELLER}-1-K25TEK-3.json"]
        == f"the name says {SELLER}-1-K25TEK-3, the detail says {SELLER}-1-K25TEK-4"
    )
    assert descriptions[f"{SELLER}-1-K25TEK-5.json"] == "issued 2025-10-02, filed under 2025-09"
    # Only the consistent details count as stored: 6 (no original, by its detail) and 7.
    assert report.found_count == 2
    assert list(report.missing) == [key(n) for n in (2, 3, 4, 5, 8, 9)]
    assert report.object_count == 9


async def test_an_empty_folder_misses_everything(harness: Harness) -> None:
    report = await reconcile(harness, [key(1)], month=10)

    assert report.prefix == f"gdt_invoices/{COMPANY}/mua_vao_dien_tu/2025/10/"
    assert (report.object_count, list(report.missing)) == (0, [key(1)])


@pytest.mark.parametrize(
    "change, field",
    [
        ({"company_tax_code": "0188502670"}, "company_tax_code"),
        ({"flow": 0}, "flow"),
        ({"month": {"year": 2025, "month": 0}}, "month"),
        ({"bucket": "Bad/Bucket"}, "bucket"),
        ({"expected": [key(1, series="C25/../x")]}, "expected[0].series"),
        ({"expected": [key(1, seller="bad")]}, "expected[0].seller_tax_code"),
    ],
)
async def test_bad_reconcile_requests_are_refused(
    harness: Harness, change: dict[str, object], field: str
) -> None:
    request = storage_pb2.ReconcileRequest(
        company_tax_code=COMPANY,
        flow=FLOW,
        month=invoice_pb2.YearMonth(year=2025, month=9),
        expected=[key(1)],
    )
    for name, value in change.items():
        if name == "expected":
            del request.expected[:]
            request.expected.extend(value)  # type: ignore[arg-type]
        elif name == "month":
            request.month.CopyFrom(invoice_pb2.YearMonth(**value))  # type: ignore[arg-type]
        else:
            setattr(request, name, value)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.Reconcile(request, timeout=30)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field}:" in (caught.value.details() or "")


async def test_the_seller_named_in_the_detail_decides_the_key(harness: Harness) -> None:
    await harness.write(write_request(1))

    report = await reconcile(harness, [key(1, seller=OTHER_SELLER)])

    assert list(report.missing) == [key(1, seller=OTHER_SELLER)]
    assert [item.key for item in report.extra] == [key(1, seller=SELLER)]
