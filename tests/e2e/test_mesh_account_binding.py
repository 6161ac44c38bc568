"""End to end over the real embedded mesh (`gdtmesh up`): a companies.json entry whose portal
username is another sandbox company's tax code is refused at login, the task FAILED with a
message naming both tax codes, after one login and no listing, with nothing in the bucket; a
branch account imports its own invoices, exactly the sandbox's ground truth."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Iterator

import pytest

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from programs.client import GatewayClient, GatewayTarget, import_request
from programs.commands.import_ import import_all
from programs.mesh import demo
from programs.mesh.launcher import Mesh, start_mesh_on_free_ports
from programs.mesh.verify import bucket_client, get_json

pytestmark = pytest.mark.slow

BRANCH = "0105927137-001"  # a demo account of the sandbox: a branch with its own login
LIST_PATHS = (
    "/query/invoices/sold",
    "/query/invoices/purchase",
    "/sco-query/invoices/sold",
    "/sco-query/invoices/purchase",
)
FLOWS = (Flow.FLOW_SOLD_ELECTRONIC, Flow.FLOW_PURCHASE_ELECTRONIC)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = start_mesh_on_free_ports(tmp_path_factory.mktemp("mesh"))
    yield running
    running.stop()


def _objects(endpoints: dict[str, str], company: str) -> list[str]:
    client = bucket_client(endpoints["gcs"])
    prefix = f"gdt_invoices/{company}/"
    return [blob.name for blob in client.list_blobs(endpoints["bucket"], prefix=prefix)]


def _requests(endpoints: dict[str, str], path: str) -> dict[str, int]:
    stats = get_json(f"{endpoints['sandbox']}/_sandbox/stats")
    return dict(stats["requests"].get(path, {}))


def test_another_companys_username_is_refused_and_nothing_is_stored(mesh: Mesh) -> None:
    endpoints = mesh.endpoints()
    start, end = demo.sandbox_range(endpoints["sandbox"])
    listed = demo.sandbox_companies(endpoints["sandbox"], start, end)
    company, other = [c for c in listed if c.company_id != BRANCH][:2]
    # companies.json: company A's entry, with company B's portal login.
    entry = dataclasses.replace(
        company, username=other.username, password=other.password, flows=FLOWS
    )
    target = GatewayTarget(endpoints["gateway"], endpoints["api_key"])
    out = io.StringIO()
    [tracked] = asyncio.run(asyncio.wait_for(import_all([entry], target, out), timeout=300))
    task = tracked.task
    assert task is not None
    assert task.status == gateway_pb2.TASK_STATUS_FAILED, task
    assert f"portal account {other.username} is not company {company.company_id}" in (
        task.failure_message
    )
    assert not task.invoice_import.manifest_object
    assert other.password not in task.failure_message + out.getvalue()

    # Refused at once (one login, no retry) and before any listing; nothing in either folder.
    assert _requests(endpoints, "/security-taxpayer/authenticate") == {"200": 1}
    assert [path for path in LIST_PATHS if _requests(endpoints, path)] == []
    assert _objects(endpoints, company.company_id) == []
    assert _objects(endpoints, other.company_id) == []


def test_a_branch_account_imports_its_own_invoices(mesh: Mesh) -> None:
    endpoints = mesh.endpoints()
    _, end = demo.sandbox_range(endpoints["sandbox"])
    start = end.replace(day=1)
    listed = demo.sandbox_companies(endpoints["sandbox"], start, end)
    branch = next(c for c in listed if c.company_id == BRANCH)

    async def run() -> gateway_pb2.Task:
        async with GatewayClient(endpoints["gateway"], endpoints["api_key"]) as client:
            request = import_request(
                BRANCH, branch.password, start, end, FLOWS, username=branch.username
            )
            started = await client.start_task(request)
            return await client.wait(started.task.task_id)

    task = asyncio.run(asyncio.wait_for(run(), timeout=300))
    assert task.status == gateway_pb2.TASK_STATUS_SUCCEEDED, task.failure_message
    assert task.invoice_import.manifest_object.startswith(f"gdt_invoices/{BRANCH}/manifests/")
    checks = demo.compare(endpoints, [BRANCH], start, end)
    assert sum(len(c.expected) for c in checks) > 0
    assert [c for c in checks if not c.exact] == []
