"""The import contract between the gateway, which starts imports, and the worker, which runs
them: workflow and query names, the task queue, inputs, progress and phases, and the days a
resync covers. Both sides import it from here, so neither imports the other.

Everything here travels through Temporal history and is small: the only secret (the portal
password) sits in `ImportInput` and `ResyncInput`, where the payload codec encrypts it. Dates are
ISO `YYYY-MM-DD` strings in the Vietnam calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from gdtmesh.vncalendar import recent_months

TASK_QUEUE = "gdtmesh-imports"  # the default GDTMESH_TASK_QUEUE of the gateway and the worker
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

DEFAULT_MAX_CONCURRENT_INVOICES = 10
# How many invoices of one batch the connector downloads at once: its
# GDTMESH_GDT_CONNECTOR_FETCH_CONCURRENCY, whose default this is.
DEFAULT_FETCH_OVERLAP = 4
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
    # Download invoices the bucket holds unchanged too (by default only new or changed ones).
    download_all: bool = False
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
    download_all: bool = False
    state: ImportState | None = None


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
    unchanged: int = 0  # of already_stored: held complete, list row unchanged, not downloaded
    changed: int = 0  # held, but the list row changed: downloaded again
    new_invoices: int = 0  # not held before (known when the listing is compared with the bucket)


COUNTERS = (
    "discovered",
    "stored",
    "already_stored",
    "failed",
    "without_original",
    "unchanged",
    "changed",
    "new_invoices",
)  # what adds up across windows (the portal total is the month's)
PERIOD_COUNTS = ("portal_total", *COUNTERS)  # a flow and month's counts, as reported
# The counts a manifest period carries as numbers: its `failed` is the list of failed invoices.
MANIFEST_COUNTS = tuple(name for name in PERIOD_COUNTS if name != "failed")


@dataclass
class FailedInvoice:
    invoice: str  # packed ref
    reason: str


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


def resync_import(spec: ResyncInput) -> ImportInput:
    """The import a resync runs: whole months from `months - 1` months before `as_of`'s month
    up to `as_of`."""
    first, last = recent_months(spec.months, date.fromisoformat(spec.as_of))
    return ImportInput(
        import_id=spec.import_id,
        company_tax_code=spec.company_tax_code,
        username=spec.username,
        password=spec.password,
        start_date=first.isoformat(),
        end_date=last.isoformat(),
        flows=spec.flows,
        bucket=spec.bucket,
        max_concurrent_invoices=spec.max_concurrent_invoices,
        fetch_overlap=spec.fetch_overlap,
        download_all=spec.download_all,
        state=spec.state,
    )
