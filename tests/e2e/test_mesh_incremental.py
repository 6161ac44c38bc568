"""End to end over real processes, time passing: a company imported as the portal stood a week
ago is resynced now. The rerun downloads exactly what the week brought (late invoices, new ones,
originals replaced or adjusted), keeps a changed invoice's first state beside the new one, and
the bucket equals the ground truth."""

from __future__ import annotations

import asyncio
import io
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.vncalendar import months_between
from programs.bench.runs import post_json, reset_stats
from programs.client import GatewayTarget
from programs.commands.import_ import import_all
from programs.mesh import demo
from programs.mesh.launcher import Mesh, start_mesh_on_free_ports
from programs.mesh.verify import bucket_client, get_json

pytestmark = pytest.mark.slow
WEEK = 7 * 86400
# A fixed data set and clock, so the week always brings the same late invoices and replacement.
TODAY = "2026-11-30"
NOW = "2026-11-30T17:00:00+00:00"  # midnight of 1 December, Vietnam time
FLOW_CODES = ("ban_ra_dien_tu", "ban_ra_may_tinh_tien", "mua_vao_dien_tu", "mua_vao_may_tinh_tien")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    state = tmp_path_factory.mktemp("mesh")
    running = start_mesh_on_free_ports(state, sandbox_args=["--today", TODAY])
    yield running
    running.stop()


def test_a_week_later_a_rerun_downloads_exactly_what_changed(mesh: Mesh) -> None:
    endpoints = mesh.endpoints()
    sandbox = endpoints["sandbox"]
    start, end = demo.sandbox_range(sandbox)
    companies = demo.sandbox_companies(sandbox, start, end)
    target = GatewayTarget(endpoints["gateway"], endpoints["api_key"])
    post_json(f"{sandbox}/_sandbox/config", {"clock_frozen_at": NOW, "time_offset_s": -WEEK})
    first = asyncio.run(asyncio.wait_for(import_all(companies, target, io.StringIO()), 600))
    assert all(
        item.task and item.task.status == gateway_pb2.TASK_STATUS_SUCCEEDED for item in first
    )
    since = _truth(sandbox, companies[0].company_id, FLOW_CODES[0], end.year, end.month)["as_of"]
    post_json(f"{sandbox}/_sandbox/config", {"time_offset_s": 0})  # a week passes

    new, changed = 0, []
    for company in companies:
        for code in FLOW_CODES:
            for year, month in months_between(start, end):
                answer = _truth(sandbox, company.company_id, code, year, month, since)
                new += len(answer["new"])
                changed += [
                    (company.company_id, code, year, month, key) for key in answer["changed"]
                ]
    assert new and changed, (new, len(changed))  # the week brought both kinds

    reset_stats(sandbox)
    again = import_all(companies, target, io.StringIO(), rerun=True)
    tracked = asyncio.run(asyncio.wait_for(again, 600))
    assert all(
        item.task and item.task.status == gateway_pb2.TASK_STATUS_SUCCEEDED for item in tracked
    )
    requests = get_json(f"{sandbox}/_sandbox/stats")["requests"]
    details = sum(sum(answers.values()) for path, answers in requests.items() if "detail" in path)
    exports = sum(sum(answers.values()) for path, answers in requests.items() if "export" in path)
    assert details == new + len(changed) and exports <= details
    totals = [
        flow.totals for item in tracked if item.task for flow in item.task.invoice_import.flows
    ]
    assert sum(t.new_invoices for t in totals) == new  # the progress counts them apart
    assert sum(t.changed for t in totals) == len(changed)

    checks = demo.compare(endpoints, [c.company_id for c in companies], start, end)
    assert all(check.exact for check in checks)
    bucket = bucket_client(endpoints["gcs"]).bucket(endpoints["bucket"])
    for mst, code, year, month, key in changed:  # each replaced original kept in both states
        stem = f"gdt_invoices/{mst}/{code}/{year:04d}/{month:02d}/" + "-".join(
            str(key[name]) for name in ("nbmst", "khmshdon", "khhdon", "shdon")
        )
        assert bucket.blob(f"{stem}.json").exists() and bucket.blob(f"{stem}.v2.json").exists()


def _truth(
    sandbox: str, company: str, code: str, year: int, month: int, since: str = ""
) -> dict[str, Any]:
    query = {"company": company, "flow": code, "month": f"{year:04d}-{month:02d}"}
    if since:
        query["changed_since"] = since
    return get_json(f"{sandbox}/_sandbox/truth?{urllib.parse.urlencode(query)}")  # type: ignore[no-any-return]
