"""What the task kinds that import one company's invoices share: the invoice import and the
recent-months resync run the same workflow engine, take the same company fields, report the same
progress and differ only in which days they cover (`CompanyImportKind`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from google.type import date_pb2

from gdtmesh import rules
from gdtmesh.flows import FLOWS, flow_info
from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.import_contract import (
    DEFAULT_FETCH_OVERLAP,
    DEFAULT_MAX_CONCURRENT_INVOICES,
    PERIOD_COUNTS,
    PHASE_CANCELLED,
    PHASE_DISCOVERING,
    PHASE_DOWNLOADING,
    PHASE_FINISHED,
    PHASE_OPENING_SESSION,
    PHASE_WRITING_MANIFEST,
    PROGRESS_QUERY,
    ImportProgress,
    PeriodCounts,
)
from gdtmesh.invoice.v1.invoice_pb2 import YearMonth
from gdtmesh.vncalendar import vietnam_today

MAX_CONCURRENT_INVOICES = 50
MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 256
ALL_FLOWS = tuple(int(info.flow) for info in FLOWS)
_PHASES = {
    PHASE_OPENING_SESSION: gateway_pb2.IMPORT_PHASE_OPENING_SESSION,
    PHASE_DISCOVERING: gateway_pb2.IMPORT_PHASE_DISCOVERING,
    PHASE_DOWNLOADING: gateway_pb2.IMPORT_PHASE_DOWNLOADING,
    PHASE_WRITING_MANIFEST: gateway_pb2.IMPORT_PHASE_WRITING_MANIFEST,
    PHASE_FINISHED: gateway_pb2.IMPORT_PHASE_FINISHED,
    PHASE_CANCELLED: gateway_pb2.IMPORT_PHASE_CANCELLED,
}


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
    @property
    def download_all(self) -> bool: ...


class CompanyImportKind:
    """The shared half of a company import kind; a subclass names its member, id segment and
    workflow and says which days and flows it covers (`validate_days`, `task_key`,
    `workflow_input`, `memo`, `details`)."""

    member: str
    id_segment: str
    workflow: str
    progress_query = PROGRESS_QUERY
    result_type = ImportProgress

    def __init__(
        self,
        default_bucket: str = "",
        fetch_overlap: int = DEFAULT_FETCH_OVERLAP,
        today: Callable[[], dt.date] = vietnam_today,
    ) -> None:
        self._default_bucket = default_bucket
        self._fetch_overlap = fetch_overlap
        self._today = today

    def validate(self, spec: Any) -> dict[str, str]:
        return check_company_spec(spec) | self.validate_days(spec)

    def validate_days(self, spec: Any) -> dict[str, str]:
        """Problems with the kind's own fields (the days it covers)."""
        raise NotImplementedError

    def company(self, spec: CompanySpec) -> str:
        return spec.company_tax_code

    def initial_progress(self) -> ImportProgress:
        return ImportProgress(PHASE_OPENING_SESSION)

    def failure_summary(self, result: ImportProgress) -> str:
        failed = sum(period.failed for period in result.periods)
        if not failed:
            return ""
        return f"{failed} invoice{'' if failed == 1 else 's'} failed"

    def company_input(self, task_id: str, spec: CompanySpec) -> dict[str, Any]:
        """The workflow input's fields every company import has (the password among them)."""
        return {
            "import_id": task_id,
            "company_tax_code": spec.company_tax_code,
            "username": spec.credentials.username,
            "password": spec.credentials.password,
            "bucket": self.bucket(spec),
            "max_concurrent_invoices": (
                spec.max_concurrent_invoices or DEFAULT_MAX_CONCURRENT_INVOICES
            ),
            "fetch_overlap": self._fetch_overlap,
            "download_all": spec.download_all,
        }

    def company_memo(self, spec: CompanySpec, flows: list[int]) -> dict[str, Any]:
        return {
            "company_tax_code": spec.company_tax_code,
            "flows": flows,
            "bucket": self.bucket(spec),
        }

    def bucket(self, spec: CompanySpec) -> str:
        return spec.bucket or self._default_bucket


def check_company_spec(spec: CompanySpec) -> dict[str, str]:
    """Problems with the fields every company task has: company, login, flows, bucket, bound."""
    problems: dict[str, str] = {}
    if not spec.company_tax_code:
        problems["company_tax_code"] = "required"
    elif problem := rules.tax_code_problem(spec.company_tax_code):
        problems["company_tax_code"] = problem
    credentials = spec.credentials
    if not credentials.password:
        problems["credentials.password"] = "required"
    elif len(credentials.password) > MAX_PASSWORD_CHARS:
        problems["credentials.password"] = f"at most {MAX_PASSWORD_CHARS} characters"
    if len(credentials.username) > MAX_USERNAME_CHARS:
        problems["credentials.username"] = f"at most {MAX_USERNAME_CHARS} characters"
    for index, flow in enumerate(spec.flows):
        if problem := rules.flow_problem(flow):
            problems[f"flows[{index}]"] = problem
    if spec.bucket and (problem := rules.bucket_problem(spec.bucket)):
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
        for counter in PERIOD_COUNTS:
            total = sum(getattr(month.counts, counter) for month in flow.months)
            setattr(flow.totals, counter, total)
    details.flows.extend(by_flow.values())
    return details


def flows_key(flows: Sequence[int], all_of: Sequence[int] = ALL_FLOWS) -> str:
    """Flows in a task key: `all`, or their codes joined by '+'."""
    return "all" if list(flows) == list(all_of) else "+".join(map(_flow_code, flows))


def distinct_flows(flows: Sequence[int]) -> list[int]:
    """The requested flows, each once, in enum order."""
    return sorted({int(flow) for flow in flows})


def proto_date(iso: str) -> date_pb2.Date:
    day = dt.date.fromisoformat(iso)
    return date_pb2.Date(year=day.year, month=day.month, day=day.day)


def _flow_code(flow: int) -> str:
    return flow_info(flow).code  # type: ignore[arg-type]


def _month(period: PeriodCounts) -> gateway_pb2.MonthProgress:
    month = gateway_pb2.MonthProgress(month=YearMonth(year=period.year, month=period.month))
    for counter in PERIOD_COUNTS:
        setattr(month.counts, counter, getattr(period, counter))
    return month
