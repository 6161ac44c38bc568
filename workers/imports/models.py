"""What the import workflows and their activities exchange through Temporal history.

Everything here is small: invoices travel as packed summaries (`refs.py`), never as bodies, a
listing carries at most `MAX_LISTED` of them, and the only secret (the portal password) sits in
`ImportInput`, `ResyncInput` and `OpenSessionInput` alone, where the payload codec encrypts it.
Dates are ISO `YYYY-MM-DD` strings in the Vietnam calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WORKFLOW_NAME = "InvoiceImport"
RESYNC_WORKFLOW_NAME = "RecentMonthsResync"
PROGRESS_QUERY = "progress"

# Phases, in order (the gateway maps them to gdtmesh.gateway.v1.ImportPhase).
PHASE_OPENING_SESSION = "opening_session"
PHASE_DISCOVERING = "discovering"
PHASE_DOWNLOADING = "downloading"
PHASE_WRITING_MANIFEST = "writing_manifest"
PHASE_FINISHED = "finished"
PHASE_CANCELLED = "cancelled"  # stopped on request; the manifest accounts for what was done

# What became of one invoice in a download batch.
OUTCOME_STORED = "stored"  # this import wrote it (a new object or a new version)
OUTCOME_ALREADY_STORED = "already_stored"  # an identical copy was in the bucket
OUTCOME_FAILED = "failed"  # not stored; `reason` says why
OUTCOME_SKIPPED = "skipped"  # not attempted: the import was cancelled first

DEFAULT_MAX_CONCURRENT_INVOICES = 10
# How many invoices of one batch the connector downloads at once: its
# GDTMESH_CONNECTOR_FETCH_CONCURRENCY, whose default this is.
DEFAULT_FETCH_OVERLAP = 4
# Most invoice refs one listing returns (about 50 bytes each: ~150 KB, well under Temporal's
# 256 KB payload budget); a month holding more is listed again in day windows.
MAX_LISTED = 3000
# Failed invoices named in the manifest (beyond, only the counters are exact), and the length of
# a reason: a whole import failing still leaves small manifest inputs and continue-as-new state.
MAX_FAILURES_KEPT = 500
MAX_REASON_CHARS = 200


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
    state: ImportState | None = None  # set by the run this one continues


@dataclass
class ResyncInput:
    """A resync: the last `months` calendar months up to `as_of`, imported again."""

    import_id: str
    company_tax_code: str
    username: str
    password: str = field(repr=False)
    months: int
    as_of: str  # the last day (the day the resync was asked for)
    flows: list[int]
    bucket: str = ""
    max_concurrent_invoices: int = DEFAULT_MAX_CONCURRENT_INVOICES
    fetch_overlap: int = DEFAULT_FETCH_OVERLAP
    state: ImportState | None = None


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
    max_invoices: int = 0  # return no refs when more are kept (0: no limit)


@dataclass
class ListInvoicesResult:
    portal_total: int  # the portal's `total` for the whole month
    listed: int  # distinct invoices the portal listed for the whole month
    invoices: list[str]  # packed refs of those issued within the window
    # Set instead of `invoices` when more than `max_invoices` were kept: how many, per day of
    # the window (those issued before or after it count on its first or last day).
    day_counts: list[int] = field(default_factory=list)


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
class Window:
    """A part of one flow's calendar month (the whole month unless it was split by days) and
    its counters. `done` once every invoice it listed was settled."""

    counts: PeriodCounts
    first_day: str
    last_day: str
    done: bool = False


@dataclass
class PeriodFailure:
    flow: int
    year: int
    month: int
    failure: FailedInvoice


@dataclass
class ImportState:
    """What a run hands to the run that continues it: small whatever the company's size (the
    windows still to do are listed again, not carried)."""

    start_time: str  # ISO 8601 UTC start of the first run (the manifest's start time)
    session_id: str
    renewals: int
    batch_size: int
    windows: list[Window]
    failures: list[PeriodFailure]  # at most MAX_FAILURES_KEPT
    runs: int = 1  # runs so far, this one included


@dataclass
class ImportProgress:
    """The `progress` query's answer and, once finished, the workflow's result."""

    phase: str
    periods: list[PeriodCounts] = field(default_factory=list)  # by flow, then month
    manifest_object: str = ""
    runs: int = 1  # continue-as-new runs so far
