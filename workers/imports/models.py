"""What the import workflows and their activities exchange through Temporal history, beyond
the import contract the gateway shares (`gdtmesh.import_contract`).

Everything here is small: invoices travel as packed summaries (`refs.py`), never as bodies, a
listing carries at most `MAX_LISTED` of them, and the only secret (the portal password) sits in
`OpenSessionInput` alone, where the payload codec encrypts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gdtmesh.import_contract import FailedInvoice, PeriodCounts

# What became of one invoice in a download batch.
OUTCOME_STORED = "stored"  # this import wrote it (a new object or a new version)
OUTCOME_ALREADY_STORED = "already_stored"  # an identical copy was in the bucket
OUTCOME_FAILED = "failed"  # not stored; `reason` says why
OUTCOME_SKIPPED = "skipped"  # not attempted: the import was cancelled first

# Most invoice refs one listing returns (about 50 bytes each: ~150 KB, well under Temporal's
# 256 KB payload budget); a month holding more is listed again in day windows.
MAX_LISTED = 3000


@dataclass
class OpenSessionInput:
    username: str
    password: str = field(repr=False)
    # The company the import files invoices under: the connector refuses a session whose
    # portal account is another one (empty, in histories recorded before it: not checked).
    company_tax_code: str = ""


@dataclass
class ListInvoicesInput:
    """List one flow for one calendar month, keeping invoices issued in [first_day, last_day]."""

    session_id: str
    flow: int
    year: int
    month: int
    first_day: str
    last_day: str
    max_invoices: int = 0  # return no refs when more are kept (0: no limit)
    # Where the kept invoices would be stored: those the bucket holds complete under an
    # unchanged list row are counted, not returned. Empty bucket and company: return them all.
    bucket: str = ""
    company_tax_code: str = ""
    skip_unchanged: bool = False


@dataclass
class ListInvoicesResult:
    portal_total: int  # the portal's `total` for the whole month
    listed: int  # distinct invoices the portal listed for the whole month
    invoices: list[str]  # packed refs of those issued within the window
    # Set instead of `invoices` when more than `max_invoices` were kept: how many, per day of
    # the window (those issued before or after it count on its first or last day).
    day_counts: list[int] = field(default_factory=list)
    unchanged: int = 0  # kept, but held complete with the same list row: left out of `invoices`
    changed: int = 0  # of `invoices`, held but with another list row
    new_invoices: int = 0  # of `invoices`, not held at all (0 when not compared with the bucket)


@dataclass
class FetchBatchInput:
    """Download a batch of one flow's invoices and store each one."""

    session_id: str
    company_tax_code: str
    bucket: str
    flow: int
    invoices: list[str]  # packed refs


@dataclass
class InvoiceOutcome:
    code: str  # OUTCOME_*
    without_original: bool = False  # stored without XML: the portal holds no original
    reason: str = ""  # why it failed


@dataclass
class FetchBatchResult:
    outcomes: list[InvoiceOutcome]  # one per requested invoice, in request order


@dataclass
class ManifestPeriod:
    counts: PeriodCounts
    failed: list[FailedInvoice] = field(default_factory=list)


@dataclass
class ManifestInput:
    bucket: str
    company_tax_code: str
    import_id: str
    start_time: str  # ISO 8601 UTC timestamp of the import's start
    periods: list[ManifestPeriod]
