"""The sandbox data model shared by the data set and the HTTP server (re-exported by
`sandbox.dataset`, which is where other code should import it from)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

FLOWS = ("ban_ra_dien_tu", "ban_ra_may_tinh_tien", "mua_vao_dien_tu", "mua_vao_may_tinh_tien")
FAMILY = {
    "ban_ra_dien_tu": "query",
    "ban_ra_may_tinh_tien": "sco-query",
    "mua_vao_dien_tu": "query",
    "mua_vao_may_tinh_tien": "sco-query",
}
SOLD_FLOWS = frozenset({"ban_ra_dien_tu", "ban_ra_may_tinh_tien"})
FAMILIES = ("query", "sco-query")


def is_sold(flow: str) -> bool:
    return flow in SOLD_FLOWS


@dataclass(frozen=True)
class Company:
    """A portal account: the taxpayer whose invoices the sandbox serves."""

    mst: str
    name: str
    address: str
    password: str
    locked: bool
    flows: tuple[str, ...]  # flows that have invoices

    def to_dict(self) -> dict[str, Any]:
        return {
            "mst": self.mst,
            "password": self.password,
            "name": self.name,
            "address": self.address,
            "locked": self.locked,
            "flows": list(self.flows),
        }

    def __repr__(self) -> str:  # keeps the password out of logs and tracebacks
        return f"Company(mst={self.mst!r}, name={self.name!r}, locked={self.locked})"


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    """A cheap index entry: everything a list filter needs, without building the invoice."""

    company: str  # the account (MST) that sees it
    flow: str
    index: int  # position in that company's flow, stable
    nbmst: str
    nmmst: str | None
    khmshdon: int
    khhdon: str
    shdon: int
    tdlap: date  # issue date, Vietnam calendar day
    visible_at: datetime  # UTC; later than tdlap for late purchase invoices
    ttxly: int
    tthai: int
    has_original: bool  # False -> hsgoc null, export-xml gives the portal's 500

    def key(self) -> dict[str, Any]:
        return {
            "nbmst": self.nbmst,
            "khhdon": self.khhdon,
            "shdon": self.shdon,
            "khmshdon": self.khmshdon,
        }


@dataclass(frozen=True)
class DatasetSpec:
    seed: int = 20251
    companies: int = 3
    invoices_per_company: int = 400  # across all flows and months
    months: int = 3  # whole calendar months ending with the month of `today`
    today: date | None = None  # None = today in Vietnam (UTC+7)
    # demo: fixed readable accounts (3 active + 1 locked) that count towards `companies`;
    # more generated accounts are added when `companies` is larger than 3.
    demo: bool = True
    # Share of purchase invoices flagged to take the form, series and number of the invoice
    # before them from another seller (twins: every seller numbers from 1, many share series);
    # about 1 in 6 purchase invoices of the demo data then has a twin in its month.
    twin_share: float = 0.2
