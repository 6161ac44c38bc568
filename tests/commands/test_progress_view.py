"""The month table of `gdtmesh watch`: the portal's count is the whole month's, the range's
invoices are beside it, and a month the range covers in part says so (issue 16: "portal 65
found 63" for a range starting on the 2nd read as two invoices missing)."""

from __future__ import annotations

import io

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from programs.commands.watch import print_result
from programs.progress import PARTIAL_NOTE


def finished_import(start: tuple[int, int, int], end: tuple[int, int, int]) -> gateway_pb2.Task:
    task = gateway_pb2.Task(
        task_id="demo:invoice-import:x", status=gateway_pb2.TASK_STATUS_SUCCEEDED
    )
    details = task.invoice_import
    details.start_date.year, details.start_date.month, details.start_date.day = start
    details.end_date.year, details.end_date.month, details.end_date.day = end
    flow = details.flows.add(flow=Flow.FLOW_SOLD_ELECTRONIC)
    month = flow.months.add()
    month.month.year, month.month.month = start[0], start[1]
    month.counts.portal_total, month.counts.discovered, month.counts.stored = 65, 63, 63
    return task


def watched(task: gateway_pb2.Task) -> list[str]:
    out = io.StringIO()
    print_result(task, out)
    return out.getvalue().splitlines()


def test_a_range_from_the_2nd_marks_the_month_as_partly_covered() -> None:
    lines = watched(finished_import((2026, 11, 2), (2026, 11, 30)))
    header = next(line for line in lines if "flow" in line)
    assert "portal month" in header and "in range" in header
    [row] = [line for line in lines if "ban_ra_dien_tu" in line]
    assert row.split()[1:4] == ["2026-11*", "65", "63"]
    assert lines[-1].strip() == PARTIAL_NOTE


def test_a_whole_month_has_no_note() -> None:
    lines = watched(finished_import((2026, 10, 1), (2026, 10, 31)))
    [row] = [line for line in lines if "ban_ra_dien_tu" in line]
    assert row.split()[1] == "2026-10"
    assert PARTIAL_NOTE not in "\n".join(lines)
