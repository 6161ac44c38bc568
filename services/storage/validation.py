"""Request checks beyond the object names (those are in `layout`): body sizes, a detail that is
the invoice the request names, a bounded fingerprint, and the folder of reconcile and
list-stored requests (bounded expectations for reconcile). Each raises INVALID_ARGUMENT
with a BadRequest naming the fields."""

from __future__ import annotations

import re

from gdtmesh.rules import shown
from gdtmesh.runtime.errors import bad_request
from gdtmesh.storage.v1 import storage_pb2
from services.storage import layout
from services.storage.detail import DetailError, read_detail
from services.storage.layout import InvoicePlace

MAX_EXPECTED = 200_000
MAX_REPORTED_PROBLEMS = 20
# The connector's fingerprints are 12 lowercase hex digits; any short hex string is accepted,
# so a longer digest on its side is no outage here. It is kept as object metadata.
FINGERPRINT = re.compile(r"[0-9a-f]{1,64}")


def check_write_invoice(
    request: storage_pb2.WriteInvoiceRequest, max_object_bytes: int
) -> InvoicePlace:
    """Where the invoice goes, once its names, sizes and detail are known to be sound."""
    place = layout.invoice_place(request.company_tax_code, request.flow, request.invoice)
    problems: dict[str, str] = {}
    for field, body in (
        ("detail_json", request.detail_json),
        ("original_xml", request.original_xml),
    ):
        if len(body) > max_object_bytes:
            problems[field] = f"{len(body)} bytes exceeds the {max_object_bytes}-byte object limit"
    if not request.detail_json:
        problems["detail_json"] = "is required"
    fingerprint = request.invoice.fingerprint
    if fingerprint and not FINGERPRINT.fullmatch(fingerprint):
        problems["invoice.fingerprint"] = (
            f"must be empty or at most 64 lowercase hex digits, got {shown(fingerprint)}"
        )
    if not problems and (problem := _detail_problem(request)):
        problems["detail_json"] = problem
    if problems:
        raise bad_request(problems, "invoice refused")
    return place


def _detail_problem(request: storage_pb2.WriteInvoiceRequest) -> str | None:
    """The detail must be the invoice the request files: same key, same issue day."""
    try:
        facts = read_detail(request.detail_json)
    except DetailError as error:
        return str(error)
    key, day = request.invoice.key, layout.issue_date(request.invoice)
    claimed = (key.seller_tax_code, key.form, key.series, key.number)
    found = (facts.seller_tax_code, facts.form, facts.series, facts.number)
    if claimed != found:
        return f"holds invoice {_key_text(found)}, not {_key_text(claimed)} (invoice.key)"
    if facts.issue_day is not None and facts.issue_day != day:
        return f"issued {facts.issue_day.isoformat()} (tdlap), not {day} (invoice.issue_date)"
    return None


def _key_text(key: tuple[str, int, str, int]) -> str:
    return f"{key[0]} {key[1]}-{key[2]}-{key[3]}"


def check_list_stored(request: storage_pb2.ListStoredRequest) -> None:
    if problems := _folder_problems(request):
        raise bad_request(problems, "list refused")


def check_reconcile(request: storage_pb2.ReconcileRequest) -> None:
    problems = _folder_problems(request)
    if len(request.expected) > MAX_EXPECTED:
        problems["expected"] = f"must hold at most {MAX_EXPECTED} keys"
    else:
        for index, key in enumerate(request.expected):
            problems |= layout.key_problems(key, f"expected[{index}]")
            if len(problems) >= MAX_REPORTED_PROBLEMS:
                break  # enough to see what is wrong
    if problems:
        raise bad_request(problems, "reconcile refused")


def _folder_problems(
    request: storage_pb2.ReconcileRequest | storage_pb2.ListStoredRequest,
) -> dict[str, str]:
    """Complaints about the bucket and folder (company, flow, month) a read request names."""
    problems: dict[str, str] = {}
    for field, problem in (
        ("bucket", layout.bucket_problem(request.bucket)),
        ("company_tax_code", layout.tax_code_problem(request.company_tax_code)),
        ("flow", layout.flow_problem(request.flow)),
        ("month", layout.month_problem(request.month)),
    ):
        if problem:
            problems[field] = problem
    return problems
