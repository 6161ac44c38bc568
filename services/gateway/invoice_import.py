"""The invoice import task kind: `StartTaskRequest.invoice_import` -> the `InvoiceImport`
workflow -> `Task.invoice_import`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from google.type import date_pb2

from gdtmesh.flows import FLOWS, flow_info
from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.import_contract import (
    DEFAULT_MAX_CONCURRENT_INVOICES,
    PHASE_CANCELLED,
    PHASE_DISCOVERING,
    PHASE_DOWNLOADING,
    PHASE_FINISHED,
    PHASE_OPENING_SESSION,
    PHASE_WRITING_MANIFEST,
    PROGRESS_QUERY,
    WORKFLOW_NAME,
    ImportInput,
    ImportProgress,
    PeriodCounts,
)
from gdtmesh.invoice.v1.invoice_pb2 import YearMonth
from gdtmesh.taxcode import is_valid_tax_code
from gdtmesh.vncalendar import months_spanned, vietnam_today

MAX_MONTHS = 24
MAX_CONCURRENT_INVOICES = 50
MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 256
FIRST_YEAR = 2000
ALL_FLOWS = tuple(int(info.flow) for info in FLOWS)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_PHASES = {
    PHASE_OPENING_SESSION: gateway_pb2.IMPORT_PHASE_OPENING_SESSION,
    PHASE_DISCOVERING: gateway_pb2.IMPORT_PHASE_DISCOVERING,
    PHASE_DOWNLOADING: gateway_pb2.IMPORT_PHASE_DOWNLOADING,
    PHASE_WRITING_MANIFEST: gateway_pb2.IMPORT_PHASE_WRITING_MANIFEST,
    PHASE_FINISHED: gateway_pb2.IMPORT_PHASE_FINISHED,
    PHASE_CANCELLED: gateway_pb2.IMPORT_PHASE_CANCELLED,
}
_COUNTERS = ("portal_total", "discovered", "stored", "already_stored", "failed", "without_original")


def check_bucket_name(name: str) -> str | None:
    """What is wrong with a GCS bucket name, or None."""
    if not _BUCKET.fullmatch(name) or ".." in name or name.startswith("goog"):
        return (
            "not a bucket name: 3-63 lowercase letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


class InvoiceImportKind:
    member = "invoice_import"
    id_segment = "invoice-import"
    workflow = WORKFLOW_NAME
    progress_query = PROGRESS_QUERY
    result_type = ImportProgress

    def __init__(
        self,
        default_bucket: str = "",
        fetch_overlap: int = 4,
        today: Callable[[], dt.date] = vietnam_today,
    ) -> None:
        self._default_bucket = default_bucket
        self._fetch_overlap = fetch_overlap
        self._today = today

    def validate(self, spec: gateway_pb2.InvoiceImportSpec) -> dict[str, str]:
        problems = check_company_spec(spec)
        start = _date(spec, "start_date", problems)
        end = _date(spec, "end_date", problems)
        if start and end:
            self._check_range(start, end, problems)
        return problems

    def task_key(self, spec: gateway_pb2.InvoiceImportSpec) -> str:
        """`{company}:{yyyymmdd}-{yyyymmdd}:{flows}`, flows `all` or codes joined by '+'."""
        start, end = _as_date(spec.start_date), _as_date(spec.end_date)
        return f"{spec.company_tax_code}:{start:%Y%m%d}-{end:%Y%m%d}:{flows_key(_flows(spec))}"

    def company(self, spec: gateway_pb2.InvoiceImportSpec) -> str:
        return spec.company_tax_code

    def workflow_input(self, task_id: str, spec: gateway_pb2.InvoiceImportSpec) -> ImportInput:
        return ImportInput(
            import_id=task_id,
            company_tax_code=spec.company_tax_code,
            username=spec.credentials.username,
            password=spec.credentials.password,
            start_date=_as_date(spec.start_date).isoformat(),
            end_date=_as_date(spec.end_date).isoformat(),
            flows=_flows(spec),
            bucket=spec.bucket or self._default_bucket,
            max_concurrent_invoices=spec.max_concurrent_invoices or DEFAULT_MAX_CONCURRENT_INVOICES,
            fetch_overlap=self._fetch_overlap,
        )

    def memo(self, task_id: str, spec: gateway_pb2.InvoiceImportSpec) -> dict[str, Any]:
        return {
            "company_tax_code": spec.company_tax_code,
            "start_date": _as_date(spec.start_date).isoformat(),
            "end_date": _as_date(spec.end_date).isoformat(),
            "flows": _flows(spec),
            "bucket": spec.bucket or self._default_bucket,
        }

    def initial_progress(self) -> ImportProgress:
        return ImportProgress(PHASE_OPENING_SESSION)

    def details(
        self, memo: Mapping[str, Any], progress: ImportProgress | None
    ) -> gateway_pb2.InvoiceImportDetails:
        return import_details(memo, progress)

    def _check_range(self, start: dt.date, end: dt.date, problems: dict[str, str]) -> None:
        if start > self._today():
            problems["start_date"] = "is in the future (Vietnam time)"
        if end < start:
            problems["end_date"] = "must not be before start_date"
        elif (months := months_spanned(start, end)) > MAX_MONTHS:
            problems["end_date"] = f"the range spans {months} months; at most {MAX_MONTHS}"


class CompanySpec(Protocol):
    """What every company task's spec has (InvoiceImportSpec, RecentMonthsResyncSpec)."""

    @property
    def company_tax_code(self) -> str: ...
    @property
    def credentials(self) -> gateway_pb2.PortalCredentials: ...
    @property
    def flows(self) -> Sequence[int]: ...
    @property
    def bucket(self) -> str: ...
    @property
    def max_concurrent_invoices(self) -> int: ...


def check_company_spec(spec: CompanySpec) -> dict[str, str]:
    """Problems with the fields every company task has: company, login, flows, bucket, bound."""
    problems: dict[str, str] = {}
    if not spec.company_tax_code:
        problems["company_tax_code"] = "required"
    elif not is_valid_tax_code(spec.company_tax_code):
        problems["company_tax_code"] = (
            "not a tax code: 10 digits with a valid check digit (optionally '-' and a "
            "3-digit branch), or a 12-digit personal number"
        )
    credentials = spec.credentials
    if not credentials.password:
        problems["credentials.password"] = "required"
    elif len(credentials.password) > MAX_PASSWORD_CHARS:
        problems["credentials.password"] = f"at most {MAX_PASSWORD_CHARS} characters"
    if len(credentials.username) > MAX_USERNAME_CHARS:
        problems["credentials.username"] = f"at most {MAX_USERNAME_CHARS} characters"
    for index, flow in enumerate(spec.flows):
        if flow not in ALL_FLOWS:
            problems[f"flows[{index}]"] = f"unknown flow {flow}"
    if spec.bucket and (problem := check_bucket_name(spec.bucket)):
        problems["bucket"] = problem
    if not 0 <= spec.max_concurrent_invoices <= MAX_CONCURRENT_INVOICES:
        problems["max_concurrent_invoices"] = (
            f"must be 1-{MAX_CONCURRENT_INVOICES} (0 means {DEFAULT_MAX_CONCURRENT_INVOICES})"
        )
    return problems


def import_details(
    memo: Mapping[str, Any], progress: ImportProgress | None
) -> gateway_pb2.InvoiceImportDetails:
    """An import's parameters (from the memo) and its progress or result."""
    details = gateway_pb2.InvoiceImportDetails(
        company_tax_code=str(memo.get("company_tax_code", "")),
        bucket=str(memo.get("bucket", "")),
    )
    for field in ("start_date", "end_date"):
        if memo.get(field):
            getattr(details, field).CopyFrom(proto_date(str(memo[field])))
    by_flow = {int(flow): gateway_pb2.FlowProgress(flow=flow) for flow in memo.get("flows", [])}
    if progress is not None:
        details.phase = _PHASES.get(progress.phase, gateway_pb2.IMPORT_PHASE_UNSPECIFIED)
        details.manifest_object = progress.manifest_object
        for period in progress.periods:
            fresh = gateway_pb2.FlowProgress(flow=period.flow)  # type: ignore[arg-type]
            flow = by_flow.setdefault(period.flow, fresh)
            flow.months.append(_month(period))
    for flow in by_flow.values():
        for counter in _COUNTERS:
            total = sum(getattr(month.counts, counter) for month in flow.months)
            setattr(flow.totals, counter, total)
    details.flows.extend(by_flow.values())
    return details


def flows_key(flows: Sequence[int], all_of: Sequence[int] = ALL_FLOWS) -> str:
    """Flows in a task key: `all`, or their codes joined by '+'."""
    return "all" if list(flows) == list(all_of) else "+".join(map(_flow_code, flows))


def _date(
    spec: gateway_pb2.InvoiceImportSpec,
    field: Literal["start_date", "end_date"],
    problems: dict[str, str],
) -> dt.date | None:
    if not spec.HasField(field):
        problems[field] = "required"
        return None
    try:
        day = _as_date(getattr(spec, field))
    except ValueError:
        problems[field] = "not a calendar date (year, month and day are all required)"
        return None
    if day.year < FIRST_YEAR:
        problems[field] = f"must be in {FIRST_YEAR} or later"
        return None
    return day


def _flow_code(flow: int) -> str:
    return flow_info(flow).code  # type: ignore[arg-type]


def _as_date(value: date_pb2.Date) -> dt.date:
    return dt.date(value.year, value.month, value.day)


def proto_date(iso: str) -> date_pb2.Date:
    day = dt.date.fromisoformat(iso)
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def _flows(spec: gateway_pb2.InvoiceImportSpec) -> list[int]:
    """The requested flows, each once, in enum order; empty means all four."""
    return distinct_flows(spec.flows) or list(ALL_FLOWS)


def distinct_flows(flows: Sequence[int]) -> list[int]:
    return sorted({int(flow) for flow in flows})


def _month(period: PeriodCounts) -> gateway_pb2.MonthProgress:
    month = gateway_pb2.MonthProgress(month=YearMonth(year=period.year, month=period.month))
    for counter in _COUNTERS:
        setattr(month.counts, counter, getattr(period, counter))
    return month
