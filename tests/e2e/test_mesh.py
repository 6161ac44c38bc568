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

import pytest

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from programs.client import GatewayClient, GatewayTarget
from programs.commands.import_ import Company, import_all
from programs.mesh import demo
from programs.mesh.launcher import Mesh, MeshPorts, start_mesh
from programs.mesh.servers import temporal_binary
from programs.mesh.verify import get_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = start_mesh(MeshPorts.free(), tmp_path_factory.mktemp("mesh"))
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
