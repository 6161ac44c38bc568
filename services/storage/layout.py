"""The bucket layout: object names are built only from validated parts, and parsed back.

    gdt_invoices/{company}/{flow}/{yyyy}/{mm}/{seller}-{form}-{series}-{number}.json  detail
    gdt_invoices/{company}/{flow}/{yyyy}/{mm}/{seller}-{form}-{series}-{number}.xml   original
    ...{seller}-{form}-{series}-{number}.v{n}.json|xml                  version n >= 2
    gdt_invoices/{company}/manifests/{import_id}.json  (.v{n}.json)     manifests

The name is the invoice's identity (seller tax code `nbmst`, `khmshdon`, `khhdon`, `shdon`): on
the purchase side every seller numbers from 1 and many share a series, so without the seller two
sellers' invoices would share a name and one would be stored as a "version" of the other. A
version is only ever a later change of the same invoice. This is layout version 2
(`LAYOUT_VERSION`, named in every manifest); layout 1 left the seller out.

A part that could escape the layout ("..", "/", control characters, absurd lengths, anything
outside the strict shapes below) is refused with INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gdtmesh import rules
from gdtmesh.flows import flow_info
from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.rules import MAX_YEAR, MIN_YEAR, shown

# Storage checks these parts with the shared rules, the ones the gateway applies at StartTask.
from gdtmesh.rules import flow_problem as flow_problem
from gdtmesh.rules import import_id_problem as import_id_problem
from gdtmesh.rules import tax_code_problem as tax_code_problem
from gdtmesh.runtime.errors import bad_request
from gdtmesh.taxcode import SHAPE as TAX_CODE_SHAPE
from gdtmesh.taxcode import is_valid_tax_code

ROOT = "gdt_invoices"
LAYOUT_VERSION = 2
# TT78 series: C (coded) or K (uncoded), two year digits, invoice type letter, two letters
# the seller picks (C25TEM, K25TDD, C26MGA). Digits are tolerated in the last three places.
SERIES = re.compile(r"[CK][0-9]{2}[A-Z0-9]{3}")
MAX_NUMBER = 10**12 - 1  # TT78 numbers have at most 8 digits; leave room, stay bounded
CONTENT_TYPES = {"json": "application/json", "xml": "application/xml"}

_VERSION = r"(?:\.v(?P<version>[2-9]|[1-9][0-9]{1,5}))?"
_INVOICE_NAME = re.compile(
    rf"{ROOT}/(?P<company>[0-9-]{{10,14}})/(?P<flow>[a-z_]+)/(?P<year>[0-9]{{4}})/(?P<month>[0-9]{{2}})/"
    rf"(?P<seller>{TAX_CODE_SHAPE})-(?P<form>[1-9])-(?P<series>{SERIES.pattern})-(?P<number>[1-9][0-9]{{0,11}})"
    rf"{_VERSION}\.(?P<ext>json|xml)"
)


@dataclass(frozen=True)
class InvoicePlace:
    """Where one invoice lives: validated parts of its object names."""

    company: str
    flow_code: str
    year: int
    month: int
    seller: str
    form: int
    series: str
    number: int

    @property
    def folder(self) -> str:
        return month_folder(self.company, self.flow_code, self.year, self.month)

    @property
    def stem(self) -> str:
        """The name without version and extension."""
        return f"{self.folder}{self.seller}-{self.form}-{self.series}-{self.number}"


@dataclass(frozen=True)
class ParsedName:
    """An invoice object name taken apart."""

    place: InvoicePlace
    version: int  # 1 for the first object, n for `.v{n}`
    ext: str  # "json" (detail) or "xml" (original)


def month_folder(company: str, flow_code: str, year: int, month: int) -> str:
    return f"{ROOT}/{company}/{flow_code}/{year:04d}/{month:02d}/"


def manifest_stem(company: str, import_id: str) -> str:
    return f"{ROOT}/{company}/manifests/{import_id}"


def versioned_name(stem: str, version: int, ext: str) -> str:
    return f"{stem}.{ext}" if version == 1 else f"{stem}.v{version}.{ext}"


def version_of(stem: str, ext: str, name: str) -> int | None:
    """The version number of `name` if it is a version of `stem` with extension `ext`."""
    if not name.startswith(stem + "."):
        return None
    rest = name[len(stem) :]
    match = re.fullmatch(rf"{_VERSION}\.{ext}", rest)
    if match is None:
        return None
    return int(match["version"] or 1)


def parse_invoice_name(name: str) -> ParsedName | None:
    match = _INVOICE_NAME.fullmatch(name)
    if match is None:
        return None
    place = InvoicePlace(
        company=match["company"],
        flow_code=match["flow"],
        year=int(match["year"]),
        month=int(match["month"]),
        seller=match["seller"],
        form=int(match["form"]),
        series=match["series"],
        number=int(match["number"]),
    )
    return ParsedName(place, int(match["version"] or 1), match["ext"])


# --- validation: each check returns a complaint or None; callers collect them all at once ---


def bucket_problem(value: str) -> str | None:
    """Empty names the service's default bucket."""
    return None if value == "" else rules.bucket_problem(value)


def month_problem(month: invoice_pb2.YearMonth) -> str | None:
    if rules.year_problem(month.year) is None and 1 <= month.month <= 12:
        return None
    return f"must be a month of {MIN_YEAR}-{MAX_YEAR}, got {month.year}-{month.month}"


def key_problems(key: invoice_pb2.InvoiceKey, field: str) -> dict[str, str]:
    """Complaints about an invoice key, by field path under `field`."""
    problems: dict[str, str] = {}
    if not is_valid_tax_code(key.seller_tax_code):
        problems[f"{field}.seller_tax_code"] = tax_code_problem(key.seller_tax_code) or ""
    if not 1 <= key.form <= 9:
        problems[f"{field}.form"] = f"must be 1-9, got {key.form}"
    if not SERIES.fullmatch(key.series):
        problems[f"{field}.series"] = (
            f"must be a 6-character series like C25TEM or K25TDD, got {shown(key.series)}"
        )
    if not 1 <= key.number <= MAX_NUMBER:
        problems[f"{field}.number"] = f"must be 1-{MAX_NUMBER}, got {key.number}"
    return problems


def issue_date(summary: invoice_pb2.InvoiceSummary) -> date | None:
    """The summary's issue date, or None when it is not a real day in the supported years."""
    value = summary.issue_date
    if rules.year_problem(value.year):
        return None
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        return None


def invoice_place(
    company: str, flow: int, summary: invoice_pb2.InvoiceSummary, field: str = "invoice"
) -> InvoicePlace:
    """Validate every part of an invoice's object name; INVALID_ARGUMENT listing each bad one."""
    problems: dict[str, str] = {}
    if problem := tax_code_problem(company):
        problems["company_tax_code"] = problem
    if problem := flow_problem(flow):
        problems["flow"] = problem
    if not summary.HasField("key"):
        problems[f"{field}.key"] = "is required"
    else:
        problems |= key_problems(summary.key, f"{field}.key")
    day = issue_date(summary)
    if day is None:
        shown = summary.issue_date
        problems[f"{field}.issue_date"] = (
            f"must be a valid date in {MIN_YEAR}-{MAX_YEAR}, "
            f"got {shown.year}-{shown.month}-{shown.day}"
        )
    if problems or day is None:
        raise bad_request(problems, "invoice cannot be filed")
    return InvoicePlace(
        company=company,
        flow_code=flow_code(flow),
        year=day.year,
        month=day.month,
        seller=summary.key.seller_tax_code,
        form=summary.key.form,
        series=summary.key.series,
        number=summary.key.number,
    )


def flow_code(flow: int) -> str:
    """The layout's folder name of a validated flow."""
    return flow_info(flow).code  # type: ignore[arg-type]
