"""Real (anonymised) portal details and the matching signed XML go through unchanged."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from storage_helpers import Harness

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.storage.v1 import storage_pb2
from tests.conftest import shared_samples

ELECTRONIC, CASH = invoice_pb2.FLOW_PURCHASE_ELECTRONIC, invoice_pb2.FLOW_PURCHASE_CASH_REGISTER
# file, flow, folder of the flow, issue day in Vietnam (tdlap is UTC at Vietnam midnight)
SAMPLES = [
    ("detail_purchase_matching_invoice_xml.json", ELECTRONIC, "mua_vao_dien_tu", (2025, 9, 22)),
    ("detail_purchase_vat_multiline.json", ELECTRONIC, "mua_vao_dien_tu", (2025, 9, 21)),
    ("detail_purchase_sco_cash_register.json", CASH, "mua_vao_may_tinh_tien", (2026, 4, 4)),
]


def request_for(
    file: str, flow: invoice_pb2.Flow.ValueType, day: tuple[int, int, int]
) -> tuple[storage_pb2.WriteInvoiceRequest, dict[str, Any]]:
    body = shared_samples("responses", file).read_bytes()
    record = json.loads(body)
    key = invoice_pb2.InvoiceKey(
        seller_tax_code=record["nbmst"],
        form=record["khmshdon"],
        series=record["khhdon"],
        number=record["shdon"],
    )
    summary = invoice_pb2.InvoiceSummary(
        key=key, issue_date=dict(zip(("year", "month", "day"), day, strict=True)), has_original=True
    )
    request = storage_pb2.WriteInvoiceRequest(
        company_tax_code=record["nmmst"], flow=flow, invoice=summary, detail_json=body
    )
    return request, record


async def test_real_details_are_filed_and_reconcile_cleanly(harness: Harness) -> None:
    Folder = tuple[str, invoice_pb2.Flow.ValueType, int, int]
    expected: dict[Folder, list[invoice_pb2.InvoiceKey]] = defaultdict(list)
    stems: dict[int, str] = {}
    for file, flow, flow_code, day in SAMPLES:
        request, record = request_for(file, flow, day)
        if file == "detail_purchase_matching_invoice_xml.json":
            request.original_xml = shared_samples("responses", "invoice.xml").read_bytes()
        response = await harness.write(request)

        folder = f"gdt_invoices/{record['nmmst']}/{flow_code}/{day[0]}/{day[1]:02d}/"
        stem = f"{record['nbmst']}-{record['khmshdon']}-{record['khhdon']}-{record['shdon']}"
        stems[int(record["shdon"])] = stem
        assert response.detail.name == f"{folder}{stem}.json"
        assert response.detail.outcome == storage_pb2.WRITE_OUTCOME_WRITTEN
        assert await harness.store.read(harness.bucket, response.detail.name) == request.detail_json
        expected[(request.company_tax_code, flow, day[0], day[1])].append(request.invoice.key)

    problems = set()
    for (company, flow, year, month), keys in expected.items():
        report = await harness.stub.Reconcile(
            storage_pb2.ReconcileRequest(
                company_tax_code=company,
                flow=flow,
                month=invoice_pb2.YearMonth(year=year, month=month),
                expected=keys,
            ),
            timeout=30,
        )
        assert report.found_count == len(keys)
        assert not (report.missing or report.extra or report.duplicates)
        problems |= {(item.name.rsplit("/", 1)[1], item.problem) for item in report.mismatched}
    # The two details stored here without their XML announce an original: reported, not hidden.
    assert problems == {
        (f"{stems[3251]}.json", storage_pb2.RECONCILE_PROBLEM_MISSING_ORIGINAL),
        (f"{stems[2736955]}.json", storage_pb2.RECONCILE_PROBLEM_MISSING_ORIGINAL),
    }
