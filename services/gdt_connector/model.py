"""What the connector knows about an invoice, independent of the proto messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from gdtmesh.runtime.errors import ServiceError


@dataclass(frozen=True)
class InvoiceKey:
    """The portal's identity of an invoice: (nbmst, khmshdon, khhdon, shdon)."""

    seller: str
    form: int
    series: str
    number: int

    def params(self) -> dict[str, str]:
        """Query parameters of the detail and export calls."""
        return {
            "nbmst": self.seller,
            "khhdon": self.series,
            "shdon": str(self.number),
            "khmshdon": str(self.form),
        }


@dataclass(frozen=True)
class InvoiceSummary:
    key: InvoiceKey
    issue_date: date  # Vietnam calendar day
    processing_status: int  # ttxly
    invoice_status: int  # tthai
    has_original: bool  # hsgoc is not null
    fingerprint: str = ""  # the row's state (`row_fingerprint`)


@dataclass(frozen=True)
class WantedInvoice:
    """An invoice to download, as the caller listed it."""

    key: InvoiceKey
    has_original: bool


@dataclass(frozen=True)
class ListPage:
    invoices: list[InvoiceSummary]
    portal_total: int
    resume_token: str = ""  # where the listing goes on after this page ("" after the last)


class OriginalStatus(Enum):
    PRESENT = "present"
    NONE = "none"
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class FetchedInvoice:
    detail_json: bytes
    original_xml: bytes
    original_status: OriginalStatus
    original_mismatch: str = ""


@dataclass(frozen=True)
class FailedInvoice:
    """A problem with one invoice that does not stop the batch: a permanent one, or a wait for
    the portal's budget (RESOURCE_EXHAUSTED with its delay)."""

    error: ServiceError
