"""The invoice import task kind: `StartTaskRequest.invoice_import` -> the `InvoiceImport`
workflow -> `Task.invoice_import`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from google.type import date_pb2

from gdtmesh import rules
from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.import_contract import WORKFLOW_NAME, ImportInput, ImportProgress
from gdtmesh.vncalendar import months_spanned
from services.gateway.company_import import (
    ALL_FLOWS,
    CompanyImportKind,
    distinct_flows,
    flows_key,
    import_details,
)

MAX_MONTHS = 24


class InvoiceImportKind(CompanyImportKind):
    member = "invoice_import"
    id_segment = "invoice-import"
    workflow = WORKFLOW_NAME

    def validate_days(self, spec: gateway_pb2.InvoiceImportSpec) -> dict[str, str]:
        problems: dict[str, str] = {}
        start = _date(spec, "start_date", problems)
        end = _date(spec, "end_date", problems)
        if start and end:
            self._check_range(start, end, problems)
        return problems

    def task_key(self, spec: gateway_pb2.InvoiceImportSpec) -> str:
        """`{company}:{yyyymmdd}-{yyyymmdd}:{flows}`, flows `all` or codes joined by '+'."""
        start, end = _as_date(spec.start_date), _as_date(spec.end_date)
        return f"{spec.company_tax_code}:{start:%Y%m%d}-{end:%Y%m%d}:{flows_key(_flows(spec))}"

    def workflow_input(self, task_id: str, spec: gateway_pb2.InvoiceImportSpec) -> ImportInput:
        return ImportInput(
            **self.company_input(task_id, spec),
            start_date=_as_date(spec.start_date).isoformat(),
            end_date=_as_date(spec.end_date).isoformat(),
            flows=_flows(spec),
        )

    def memo(self, task_id: str, spec: gateway_pb2.InvoiceImportSpec) -> dict[str, Any]:
        return {
            **self.company_memo(spec, _flows(spec)),
            "start_date": _as_date(spec.start_date).isoformat(),
            "end_date": _as_date(spec.end_date).isoformat(),
        }

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
    if day.year < rules.MIN_YEAR:  # later years are bounded by today and MAX_MONTHS
        problems[field] = f"must be in {rules.MIN_YEAR} or later"
        return None
    return day


def _as_date(value: date_pb2.Date) -> dt.date:
    return dt.date(value.year, value.month, value.day)


def _flows(spec: gateway_pb2.InvoiceImportSpec) -> list[int]:
    """The requested flows, each once, in enum order; empty means all four."""
    return distinct_flows(spec.flows) or list(ALL_FLOWS)
