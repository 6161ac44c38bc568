"""End to end over real processes: the mesh as `gdtmesh up` starts it imports several
companies through the gateway, and the bucket matches the sandbox's ground truth invoice by
invoice (and the demo says so); the portal password appears nowhere in the workflow's raw
history."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.invoice.v1.invoice_pb2 import Flow, InvoiceKey, YearMonth
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from gdtmesh.vncalendar import months_between
from programs.bench.runs import reset_stats
from programs.client import GatewayClient, GatewayTarget
from programs.commands.import_ import Company, import_all
from programs.mesh import demo
from programs.mesh.launcher import Mesh, start_mesh_on_free_ports
from programs.mesh.servers import temporal_binary
from programs.mesh.verify import bucket_client, get_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = start_mesh_on_free_ports(tmp_path_factory.mktemp("mesh"))
    yield running
    running.stop()


def test_import_matches_ground_truth(mesh: Mesh) -> None:
    endpoints = mesh.endpoints()
    start, end = demo.sandbox_range(endpoints["sandbox"])
    companies = demo.sandbox_companies(endpoints["sandbox"], start, end)
    assert len(companies) >= 2
    target = GatewayTarget(endpoints["gateway"], endpoints["api_key"])

    out = io.StringIO()
    tracked = asyncio.run(asyncio.wait_for(import_all(companies, target, out), timeout=600))
    tasks = {item.company_id: item.task for item in tracked if item.task is not None}
    assert list(tasks) == [c.company_id for c in companies]
    for mst, task in tasks.items():
        assert task.status == gateway_pb2.TASK_STATUS_SUCCEEDED, (mst, task.failure_message)
        assert task.invoice_import.manifest_object
    assert not [c.password for c in companies if c.password in out.getvalue()]

    checks = demo.compare(endpoints, list(tasks), start, end)
    assert sum(len(c.expected) for c in checks) > 100  # a real amount of data went through
    wrong = [
        (c.company, c.flow_code, c.year, c.month, len(c.missing), len(c.unexpected))
        for c in checks
        if not c.exact
    ]
    assert not wrong

    _assert_password_not_in_history(mesh, tasks, [c.password for c in companies])
    _assert_the_demo_says_so(endpoints, companies, tasks)


PURCHASES = {
    "mua_vao_dien_tu": Flow.FLOW_PURCHASE_ELECTRONIC,
    "mua_vao_may_tinh_tien": Flow.FLOW_PURCHASE_CASH_REGISTER,
}


def test_twins_of_different_sellers_each_land_under_their_own_name(mesh: Mesh) -> None:
    """Purchase invoices of different sellers that share form, series and number (the sandbox
    makes about 1 in 6 such twins): each once under its own name, and the manifest and
    Reconcile agree with the ground truth exactly."""
    endpoints = mesh.endpoints()
    start, end = demo.sandbox_range(endpoints["sandbox"])
    companies = demo.sandbox_companies(endpoints["sandbox"], start, end)
    target = GatewayTarget(endpoints["gateway"], endpoints["api_key"])
    tracked = asyncio.run(asyncio.wait_for(import_all(companies, target, io.StringIO()), 600))
    bucket = bucket_client(endpoints["gcs"]).bucket(endpoints["bucket"])
    channel = grpc.insecure_channel(endpoints["storage"])
    storage = storage_pb2_grpc.StorageServiceStub(channel)
    twins = 0
    try:
        for item in tracked:
            assert item.task is not None and item.task.status == gateway_pb2.TASK_STATUS_SUCCEEDED
            manifest = json.loads(
                bucket.blob(item.task.invoice_import.manifest_object).download_as_bytes()
            )
            assert manifest["layout_version"] == 2
            periods = {(p["flow"], p["month"]): p for p in manifest["periods"]}
            for code, flow in PURCHASES.items():
                for year, month in months_between(start, end):
                    twins += _check_month(
                        endpoints, storage, periods, item.company_id, code, flow, year, month
                    )
    finally:
        channel.close()
    assert twins >= 10, twins  # the path was really taken


def _check_month(
    endpoints: dict[str, str],
    storage: storage_pb2_grpc.StorageServiceStub,
    periods: dict[tuple[str, str], dict[str, Any]],
    company: str,
    code: str,
    flow: Flow.ValueType,
    year: int,
    month: int,
) -> int:
    rows = get_json(
        f"{endpoints['sandbox']}/_sandbox/truth?company={company}&flow={code}&month={year:04d}-{month:02d}"
    )
    rows = rows["invoices"] if isinstance(rows, dict) else rows
    keys = [(r["nbmst"], int(r["khmshdon"]), r["khhdon"], int(r["shdon"])) for r in rows]
    shared: dict[tuple[object, ...], set[str]] = {}
    for seller, *name in keys:
        shared.setdefault(tuple(name), set()).add(seller)
    period = periods.get((code, f"{year:04d}-{month:02d}"))
    if not keys and period is None:
        return 0
    assert period is not None, (company, code, year, month)
    folder = f"gdt_invoices/{company}/{code}/{year:04d}/{month:02d}/"
    invoices = {
        (i["seller_tax_code"], i["form"], i["series"], i["number"]): i for i in period["invoices"]
    }
    assert sorted(invoices) == sorted(keys)  # the manifest names every invoice, once
    for key, held in invoices.items():
        assert held["detail"] == [folder + "-".join(map(str, key)) + ".json"]
    reply = storage.Reconcile(
        storage_pb2.ReconcileRequest(
            company_tax_code=company,
            flow=flow,
            month=YearMonth(year=year, month=month),
            expected=[
                InvoiceKey(seller_tax_code=k[0], form=k[1], series=k[2], number=k[3]) for k in keys
            ],
        ),
        timeout=60,
    )
    assert reply.found_count == len(keys)
    assert not (reply.missing or reply.duplicates or reply.mismatched or reply.extra)
    return sum(len(sellers) for sellers in shared.values() if len(sellers) > 1)


def _assert_the_demo_says_so(
    endpoints: dict[str, str], companies: list[Company], tasks: dict[str, gateway_pb2.Task]
) -> None:
    """The demo is the same import (the same requests find the same finished tasks): its
    summary has a succeeded row per company, its ground-truth table an exact cell per flow."""
    out = io.StringIO()
    assert asyncio.run(asyncio.wait_for(demo.run_demo(endpoints, out), timeout=300))
    text = out.getvalue()
    summary = text[text.index("company         name") : text.index("ground truth")].splitlines()
    rows = {line.split()[0]: line for line in summary[1:] if line.strip()}
    truth = text[text.index("ground truth") :].splitlines()
    cells = {line.split()[0]: line.split()[1:] for line in truth[2:] if line[:1].isdigit()}
    for company in companies:
        task = tasks[company.company_id]
        assert " succeeded " in rows[company.company_id]
        assert rows[company.company_id].endswith(task.invoice_import.manifest_object)
        assert cells[company.company_id][1::2] == ["exact"] * 4
    assert "invoices in the bucket, each once, and nothing else" in text
    assert not [c.password for c in companies if c.password in text]


def _assert_password_not_in_history(
    mesh: Mesh, tasks: dict[str, gateway_pb2.Task], passwords: list[str]
) -> None:
    """Raw history holds no password, even inside base64 payloads; through the gateway's codec
    endpoint an authorised operator reads the payloads in clear (so the check can fail)."""
    endpoints = mesh.endpoints()
    codec = [
        "--codec-endpoint",
        endpoints["codec"],
        "--codec-auth",
        f"Bearer {endpoints['codec_token']}",
    ]
    for mst, task in tasks.items():
        raw = _history(endpoints["temporal"], task.task_id)
        assert "WorkflowExecutionCompleted" in raw or "workflowExecutionCompleted" in raw
        assert not [p for p in passwords if p in raw or any(p in t for t in _payloads(raw))]
        decoded = _payloads(_history(endpoints["temporal"], task.task_id, *codec))
        assert any(mst in text for text in decoded), "the codec endpoint decrypts nothing"


def _history(address: str, workflow_id: str, *extra: str) -> str:
    argv = [temporal_binary(), "workflow", "show", "-w", workflow_id, "-o", "json"]
    argv += ["--address", address, *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout


def _payloads(history: str) -> list[str]:
    """Every payload's data, base64-decoded, as text."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    found.append(base64.b64decode(value + "==").decode("utf-8", "replace"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(history))
    return found


def test_import_of_some_flows_for_part_of_a_month(mesh: Mesh) -> None:
    endpoints = mesh.endpoints()
    company = next(
        c for c in get_json(f"{endpoints['sandbox']}/_sandbox/companies") if not c["locked"]
    )
    _, end = demo.sandbox_range(endpoints["sandbox"])
    start = end.replace(day=1)
    flows = [Flow.FLOW_SOLD_ELECTRONIC, Flow.FLOW_PURCHASE_ELECTRONIC]

    async def run() -> gateway_pb2.Task:
        async with GatewayClient(endpoints["gateway"], endpoints["api_key"]) as client:
            started = await client.start_import(
                company["mst"], company["password"], start, end, flows
            )
            return await client.wait(started.task.task_id)

    task = asyncio.run(asyncio.wait_for(run(), timeout=300))
    assert task.status == gateway_pb2.TASK_STATUS_SUCCEEDED, task.failure_message
    assert "+" in task.task_id and task.invoice_import.manifest_object
    assert [f.flow for f in task.invoice_import.flows] == flows


def test_a_rerun_spends_the_portal_budget_only_on_what_is_new(mesh: Mesh) -> None:
    """Imported once, imported again at once: the bucket holds every invoice complete under an
    unchanged list row, so the rerun costs a login and the list pages, not one download; with
    `download_all` it downloads every invoice again and finds it stored."""
    endpoints = mesh.endpoints()
    start, end = demo.sandbox_range(endpoints["sandbox"])
    companies = demo.sandbox_companies(endpoints["sandbox"], start, end)
    target = GatewayTarget(endpoints["gateway"], endpoints["api_key"])

    def run(**options: bool) -> tuple[dict[str, int], list[gateway_pb2.Task]]:
        asyncio.run(asyncio.wait_for(import_all(companies, target, io.StringIO()), 600))
        reset_stats(endpoints["sandbox"])
        again = import_all(companies, target, io.StringIO(), rerun=True, **options)
        tracked = asyncio.run(asyncio.wait_for(again, 600))
        requests = get_json(f"{endpoints['sandbox']}/_sandbox/stats")["requests"]
        spent = {path: sum(answers.values()) for path, answers in requests.items()}
        return spent, [item.task for item in tracked if item.task is not None]

    spent, tasks = run()
    assert [t.status for t in tasks] == [gateway_pb2.TASK_STATUS_SUCCEEDED] * len(companies)
    assert not {name for name in spent if "detail" in name or "export" in name}, spent
    listed = sum(flow.totals.discovered for t in tasks for flow in t.invoice_import.flows)
    skipped = sum(flow.totals.unchanged for t in tasks for flow in t.invoice_import.flows)
    assert listed > 100 and skipped == listed
    assert sum(flow.totals.stored for t in tasks for flow in t.invoice_import.flows) == 0
    assert sum(flow.totals.new_invoices for t in tasks for flow in t.invoice_import.flows) == 0

    spent, tasks = run(download_all=True)
    downloads = sum(count for name, count in spent.items() if "detail" in name)
    assert downloads == listed  # every invoice again, each found already stored
    assert sum(flow.totals.unchanged for t in tasks for flow in t.invoice_import.flows) == 0
