"""Shared by the chaos tests: progress signals and the final exactness check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from google.cloud import storage

from gdtmesh.gateway.v1 import gateway_pb2
from programs.bench.exactness import check_bucket
from programs.bench.runs import ImportRun
from programs.mesh.demo import sandbox_range
from programs.mesh.launcher import Mesh
from programs.mesh.verify import bucket_client


def stored_objects(client: storage.Client, bucket: str) -> int:
    """Objects under the invoice layout (details, originals, manifests)."""
    return sum(1 for _ in client.list_blobs(bucket, prefix="gdt_invoices/"))


async def wait_for_progress(mesh: Mesh, more: int, timeout_s: float = 90.0) -> float:
    """Wait until the bucket holds `more` objects than now: imports are making progress
    (connector, storage and the worker's activities all work). Returns the seconds it took."""
    endpoints = mesh.endpoints()
    client = bucket_client(endpoints["gcs"])
    begin = time.monotonic()
    before = await asyncio.to_thread(stored_objects, client, endpoints["bucket"])
    while time.monotonic() - begin < timeout_s:
        await asyncio.sleep(0.5)
        now = await asyncio.to_thread(stored_objects, client, endpoints["bucket"])
        if now >= before + more:
            return time.monotonic() - begin
    raise AssertionError(f"no progress within {timeout_s:.0f}s ({before} objects)")


async def assert_complete_and_exact(mesh: Mesh, run: ImportRun, companies: Sequence[str]) -> None:
    assert not run.failed, run.failed
    assert all(t.status == gateway_pb2.TASK_STATUS_SUCCEEDED for t in run.tasks.values())
    totals = run.totals()
    assert totals["failed"] == 0, totals
    endpoints = mesh.endpoints()
    start, end = sandbox_range(endpoints["sandbox"])
    exactness = await check_bucket(endpoints, companies, start, end)
    assert exactness.expected > 300, exactness.summary()  # a real amount of data went through
    assert exactness.exact, (exactness.summary(), exactness.missing[:5], exactness.mismatched[:5])
