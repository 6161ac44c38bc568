"""An import's manifest: per flow and month, the portal's total, what the import did, what
failed and why, every invoice the folder holds under its identity (seller, form, series, number)
with its objects, and every object (name, generation, hashes). It names the layout version its
object names follow (`layout.LAYOUT_VERSION`).

It is written last and create-only under `gdt_invoices/{company}/manifests/{import_id}.json`,
so its presence means the import finished. The content is deterministic (no write time), so
rewriting the same import's manifest over an unchanged bucket is ALREADY_STORED; a different
account (the bucket changed, or the import's counts) becomes a new version beside the old one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from gdtmesh.flows import flow_by_code, flow_info
from gdtmesh.import_contract import MANIFEST_COUNTS
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import bad_request
from gdtmesh.storage.v1 import storage_pb2
from services.storage import layout
from services.storage.objects import ObjectInfo, ObjectNotFoundError, ObjectStore
from services.storage.writer import Stored, latest_version, write_versioned

SCHEMA = "gdtmesh.manifest.v2"  # v2: layout version 2 names, invoices by identity
MAX_PERIODS = 1200  # four flows x 25 years of months
MAX_REASON = 500


def check_request(request: storage_pb2.WriteManifestRequest) -> None:
    """INVALID_ARGUMENT listing every bad field of the request."""
    problems = _identity_problems(request)
    if not request.periods:
        problems["periods"] = "must hold at least one period"
    elif len(request.periods) > MAX_PERIODS:
        problems["periods"] = f"must hold at most {MAX_PERIODS} periods"
    seen: set[tuple[int, int, int]] = set()
    for index, period in enumerate(request.periods[:MAX_PERIODS]):
        problems |= _period_problems(period, f"periods[{index}]")
        identity = (period.flow, period.month.year, period.month.month)
        if identity in seen:
            problems[f"periods[{index}]"] = "repeats an earlier flow and month"
        seen.add(identity)
    if problems:
        raise bad_request(problems, "manifest refused")


def check_read(request: storage_pb2.ReadManifestRequest) -> None:
    if problems := _identity_problems(request):
        raise bad_request(problems, "read refused")


def _identity_problems(
    request: storage_pb2.WriteManifestRequest | storage_pb2.ReadManifestRequest,
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for field, problem in (
        ("bucket", layout.bucket_problem(request.bucket)),
        ("company_tax_code", layout.tax_code_problem(request.company_tax_code)),
        ("import_id", layout.import_id_problem(request.import_id)),
    ):
        if problem:
            problems[field] = problem
    return problems


def _period_problems(period: storage_pb2.PeriodReport, field: str) -> dict[str, str]:
    problems: dict[str, str] = {}
    if problem := layout.flow_problem(period.flow):
        problems[f"{field}.flow"] = problem
    if problem := layout.month_problem(period.month):
        problems[f"{field}.month"] = problem
    for name in MANIFEST_COUNTS:
        if getattr(period, name) < 0:
            problems[f"{field}.{name}"] = "must not be negative"
    return problems


async def write_manifest(
    store: ObjectStore, bucket: str, request: storage_pb2.WriteManifestRequest
) -> Stored:
    """List every period's folder, then write the manifest (create-only, versioned)."""
    company = request.company_tax_code
    periods = sorted(request.periods, key=lambda p: (p.month.year, p.month.month, p.flow))
    listings = await asyncio.gather(
        *(store.list_objects(bucket, _folder(company, period)) for period in periods)
    )
    period_documents = [
        _period(company, period, objects) for period, objects in zip(periods, listings, strict=True)
    ]
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "layout_version": layout.LAYOUT_VERSION,
        "import_id": request.import_id,
        "company_tax_code": company,
        "bucket": bucket,
        "start_time": (
            request.start_time.ToJsonString() if request.HasField("start_time") else None
        ),
        "periods": period_documents,
        "totals": _totals(period_documents),
    }
    data = (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()
    stem = layout.manifest_stem(company, request.import_id)
    return await write_versioned(store, bucket, stem, "json", data, layout.CONTENT_TYPES["json"])


async def read_manifest(
    store: ObjectStore, bucket: str, company: str, import_id: str
) -> tuple[ObjectInfo, list[storage_pb2.PeriodReport]]:
    """The manifest's latest version and its periods; ObjectNotFoundError if there is none."""
    stem = layout.manifest_stem(company, import_id)
    info = await latest_version(store, bucket, stem, "json")
    if info is None:
        raise ObjectNotFoundError(f"no manifest for import {import_id}")
    document = json.loads(await store.read(bucket, info.name))
    return info, [_period_report(period) for period in document["periods"]]


def _period_report(period: dict[str, Any]) -> storage_pb2.PeriodReport:
    year, month = (int(part) for part in period["month"].split("-"))
    return storage_pb2.PeriodReport(
        flow=flow_by_code(period["flow"]).flow,
        month=invoice_pb2.YearMonth(year=year, month=month),
        **{name: period.get(name, 0) for name in MANIFEST_COUNTS},
        failed=[
            storage_pb2.FailedInvoice(
                key=invoice_pb2.InvoiceKey(
                    seller_tax_code=failure["seller_tax_code"],
                    form=failure["form"],
                    series=failure["series"],
                    number=failure["number"],
                ),
                reason=failure["reason"],
            )
            for failure in period["failed"]
        ],
    )


def _folder(company: str, period: storage_pb2.PeriodReport) -> str:
    code = flow_info(period.flow).code
    return layout.month_folder(company, code, period.month.year, period.month.month)


def _period(
    company: str, period: storage_pb2.PeriodReport, objects: list[ObjectInfo]
) -> dict[str, Any]:
    details = sum(1 for info in objects if info.name.endswith(".json"))
    return {
        "flow": flow_info(period.flow).code,
        "month": f"{period.month.year:04d}-{period.month.month:02d}",
        "folder": _folder(company, period),
        **{name: getattr(period, name) for name in MANIFEST_COUNTS},
        "failed": [
            {
                "seller_tax_code": failure.key.seller_tax_code,
                "form": failure.key.form,
                "series": failure.key.series,
                "number": failure.key.number,
                "reason": failure.reason[:MAX_REASON],
            }
            for failure in period.failed
        ],
        "invoices": _invoices(objects),
        "detail_objects": details,
        "original_objects": sum(1 for info in objects if info.name.endswith(".xml")),
        "objects": [
            {
                "name": info.name,
                "generation": info.generation,
                "size": info.size,
                "crc32c": info.crc32c,
                "md5": info.md5,
            }
            for info in objects
        ],
    }


def _invoices(objects: list[ObjectInfo]) -> list[dict[str, Any]]:
    """The folder's invoices by identity, each with its detail and original objects (every
    version, in name order); objects whose names are not the layout's are left to `objects`."""
    by_identity: dict[tuple[str, int, str, int], dict[str, list[str]]] = {}
    for info in sorted(objects, key=lambda info: info.name):
        parsed = layout.parse_invoice_name(info.name)
        if parsed is None:
            continue
        place = parsed.place
        identity = (place.seller, place.form, place.series, place.number)
        held = by_identity.setdefault(identity, {"detail": [], "original": []})
        held["detail" if parsed.ext == "json" else "original"].append(info.name)
    return [
        {"seller_tax_code": seller, "form": form, "series": series, "number": number, **held}
        for (seller, form, series, number), held in sorted(by_identity.items())
    ]


def _totals(periods: list[dict[str, Any]]) -> dict[str, int]:
    totals = {name: sum(period[name] for period in periods) for name in MANIFEST_COUNTS}
    totals["failed"] = sum(len(period["failed"]) for period in periods)
    totals["objects"] = sum(len(period["objects"]) for period in periods)
    return totals
