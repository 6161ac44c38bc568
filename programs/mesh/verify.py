"""Compare what the bucket holds with the sandbox's ground truth, invoice by invoice.

The demo prints this comparison and the end-to-end tests assert it. Keys are read from each
stored detail JSON itself, not parsed from object names, so the check does not trust the layout
it verifies; a detail that is not under its own identity's name counts as a bad object.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from services.storage.layout import parse_invoice_name

InvoiceKey = tuple[str, str, int, int]  # (nbmst, khhdon, shdon, khmshdon)


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return json.load(reply)


def key_of(record: dict[str, Any]) -> InvoiceKey:
    return (
        str(record["nbmst"]),
        str(record["khhdon"]),
        int(record["shdon"]),
        int(record["khmshdon"]),
    )


def truth(sandbox_url: str, company: str, flow_code: str, year: int, month: int) -> set[InvoiceKey]:
    query = urllib.parse.urlencode(
        {"company": company, "flow": flow_code, "month": f"{year:04d}-{month:02d}"}
    )
    answer = get_json(f"{sandbox_url}/_sandbox/truth?{query}")
    rows = answer["invoices"] if isinstance(answer, dict) else answer
    return {key_of(row) for row in rows}


def _named_as(name: str, key: InvoiceKey) -> bool:
    """Whether a detail object's name is its invoice's identity (seller, form, series, number)."""
    parsed = parse_invoice_name(name)
    if parsed is None:
        return False
    place = parsed.place
    return (place.seller, place.series, place.number, place.form) == key


@dataclass
class StoredMonth:
    # key -> how many invoices carry it (an invoice's later versions, kept when it changed on
    # the portal, are one invoice: only its first detail counts; a version of nothing is bad)
    details: dict[InvoiceKey, int]
    xml_objects: int
    bad_objects: list[str]


def bucket_client(gcs_url: str) -> storage.Client:
    return storage.Client(
        project="gdtmesh-local",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": gcs_url},
    )


def stored(
    client: storage.Client, bucket: str, company: str, flow_code: str, year: int, month: int
) -> StoredMonth:
    prefix = f"gdt_invoices/{company}/{flow_code}/{year:04d}/{month:02d}/"
    details: dict[InvoiceKey, int] = {}
    later_versions: list[tuple[str, InvoiceKey]] = []
    xml_objects = 0
    bad: list[str] = []
    for blob in client.list_blobs(bucket, prefix=prefix):
        if blob.name.endswith(".xml"):
            xml_objects += 1
            continue
        try:
            key = key_of(json.loads(blob.download_as_bytes()))
        except (ValueError, KeyError, TypeError):
            bad.append(blob.name)
            continue
        if not _named_as(blob.name, key):
            bad.append(blob.name)
            continue
        parsed = parse_invoice_name(blob.name)
        if parsed is not None and parsed.version > 1:
            later_versions.append((blob.name, key))
            continue
        details[key] = details.get(key, 0) + 1
    bad += [name for name, key in later_versions if key not in details]
    return StoredMonth(details, xml_objects, bad)


@dataclass
class MonthCheck:
    company: str
    flow_code: str
    year: int
    month: int
    expected: set[InvoiceKey]
    found: StoredMonth

    @property
    def missing(self) -> set[InvoiceKey]:
        return self.expected - self.found.details.keys()

    @property
    def unexpected(self) -> set[InvoiceKey]:
        return self.found.details.keys() - self.expected

    @property
    def duplicated(self) -> set[InvoiceKey]:
        return {key for key, count in self.found.details.items() if count > 1}

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.duplicated or self.found.bad_objects)


def check_month(
    sandbox_url: str,
    client: storage.Client,
    bucket: str,
    company: str,
    flow_code: str,
    year: int,
    month: int,
) -> MonthCheck:
    expected = truth(sandbox_url, company, flow_code, year, month)
    found = stored(client, bucket, company, flow_code, year, month)
    return MonthCheck(company, flow_code, year, month, expected, found)
