"""What the import workflow and its activities exchange through Temporal history.

Everything here is small: invoices travel as packed summaries (`refs.py`), never as bodies, and
the only secret (the portal password) sits in `ImportInput` and `OpenSessionInput` alone, where
the payload codec encrypts it. Dates are ISO `YYYY-MM-DD` strings in the Vietnam calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WORKFLOW_NAME = "InvoiceImport"
PROGRESS_QUERY = "progress"

# Phases, in order (the gateway maps them to gdtmesh.gateway.v1.ImportPhase).
PHASE_OPENING_SESSION = "opening_session"
PHASE_DISCOVERING = "discovering"
PHASE_DOWNLOADING = "downloading"
PHASE_WRITING_MANIFEST = "writing_manifest"
PHASE_FINISHED = "finished"

# What became of one invoice in a download batch.
OUTCOME_STORED = "stored"  # this import wrote it (a new object or a new version)
OUTCOME_ALREADY_STORED = "already_stored"  # an identical copy was in the bucket
OUTCOME_FAILED = "failed"  # not stored; `reason` says why

DEFAULT_MAX_CONCURRENT_INVOICES = 10
# How many invoices of one batch the connector downloads at once: its
# GDTMESH_CONNECTOR_FETCH_CONCURRENCY, whose default this is.
DEFAULT_FETCH_OVERLAP = 4


@dataclass
class ImportInput:
    """One import: a company, a date range and some flows."""

    import_id: str  # the task id; names the manifest
    company_tax_code: str
    username: str  # portal login; empty means the company tax code
    password: str = field(repr=False)
    start_date: str  # first day, inclusive
    end_date: str  # last day, inclusive
    flows: list[int]  # gdtmesh.invoice.v1.Flow values, each once
    bucket: str = ""  # empty: the storage service's default bucket
    max_concurrent_invoices: int = DEFAULT_MAX_CONCURRENT_INVOICES
    fetch_overlap: int = DEFAULT_FETCH_OVERLAP  # invoices of one batch downloaded at once


@dataclass
class OpenSessionInput:
    username: str
    password: str = field(repr=False)


@dataclass
class ListInvoicesInput:
    """List one flow for one calendar month, keeping invoices issued in [first_day, last_day]."""

    session_id: str
    flow: int
    year: int
    month: int
    first_day: str
    last_day: str


@dataclass
class ListInvoicesResult:
    portal_total: int  # the portal's `total` for the whole month
    listed: int  # distinct invoices the portal listed for the whole month
    invoices: list[str]  # packed refs of those issued within the window


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
class PeriodCounts:
    """The counters of one flow and calendar month."""

    flow: int
    year: int
    month: int
    portal_total: int = 0
    discovered: int = 0
    stored: int = 0
    already_stored: int = 0
    failed: int = 0
    without_original: int = 0


@dataclass
class FailedInvoice:
    invoice: str  # packed ref
    reason: str


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


@dataclass
class ImportProgress:
    """The `progress` query's answer and, once finished, the workflow's result."""

    phase: str
    periods: list[PeriodCounts] = field(default_factory=list)  # by flow, then month
    manifest_object: str = ""
