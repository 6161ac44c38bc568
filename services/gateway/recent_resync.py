"""The recent-months resync task kind: `StartTaskRequest.recent_months_resync` -> the
`RecentMonthsResync` workflow -> `Task.recent_months_resync`.

The months end on the day the resync is asked for (Vietnam time). That day is part of the task
key, so the same resync asked twice in a day is one task and tomorrow's is a new one; the
workflow takes it from the task id rather than its own clock, so every run covers the same days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.import_contract import RESYNC_WORKFLOW_NAME, ImportProgress, ResyncInput
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.vncalendar import recent_months
from services.gateway.company_import import (
    CompanyImportKind,
    distinct_flows,
    flows_key,
    import_details,
)

DEFAULT_MONTHS = 3
MAX_MONTHS = 12
# Late arrivals are purchase invoices: a supplier's invoice reaches the buyer's list late.
PURCHASE_FLOWS = (int(Flow.FLOW_PURCHASE_ELECTRONIC), int(Flow.FLOW_PURCHASE_CASH_REGISTER))


class RecentMonthsResyncKind(CompanyImportKind):
    member = "recent_months_resync"
    id_segment = "recent-months-resync"
    workflow = RESYNC_WORKFLOW_NAME

    def validate_days(self, spec: gateway_pb2.RecentMonthsResyncSpec) -> dict[str, str]:
        if not 0 <= spec.months <= MAX_MONTHS:
            return {"months": f"must be 1-{MAX_MONTHS} (0 means {DEFAULT_MONTHS})"}
        return {}

    def task_key(self, spec: gateway_pb2.RecentMonthsResyncSpec) -> str:
        """`{company}:{n}m:{flows}:{yyyymmdd}`, the day the months end on."""
        flows = _flows(spec)
        named = "purchases" if flows == list(PURCHASE_FLOWS) else flows_key(flows)
        return f"{spec.company_tax_code}:{_months(spec)}m:{named}:{self._today():%Y%m%d}"

    def workflow_input(self, task_id: str, spec: gateway_pb2.RecentMonthsResyncSpec) -> ResyncInput:
        return ResyncInput(
            **self.company_input(task_id, spec),
            months=_months(spec),
            as_of=_as_of(task_id).isoformat(),
            flows=_flows(spec),
        )

    def memo(self, task_id: str, spec: gateway_pb2.RecentMonthsResyncSpec) -> dict[str, Any]:
        first, last = recent_months(_months(spec), _as_of(task_id))
        return {
            **self.company_memo(spec, _flows(spec)),
            "months": _months(spec),
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
        }

    def details(
        self, memo: Mapping[str, Any], progress: ImportProgress | None
    ) -> gateway_pb2.RecentMonthsResyncDetails:
        details = gateway_pb2.RecentMonthsResyncDetails(
            months=int(memo.get("months", 0)), progress=import_details(memo, progress)
        )
        if progress is not None:
            details.new_invoices = sum(period.stored for period in progress.periods)
        return details


def _months(spec: gateway_pb2.RecentMonthsResyncSpec) -> int:
    return spec.months or DEFAULT_MONTHS


def _flows(spec: gateway_pb2.RecentMonthsResyncSpec) -> list[int]:
    return distinct_flows(spec.flows) or list(PURCHASE_FLOWS)


def _as_of(task_id: str) -> dt.date:
    return dt.datetime.strptime(task_id.rsplit(":", 1)[1], "%Y%m%d").date()
