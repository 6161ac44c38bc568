"""Fixtures for the storage tests: every behaviour test runs against BOTH backends (fake-gcs-server
with a fresh bucket per test, and a fresh temporary folder), through a real in-process gRPC
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from storage_helpers import MAX_OBJECT_BYTES, Harness, new_bucket, open_backend

from gdtmesh.runtime.grpc_server import GrpcService
from gdtmesh.storage.v1 import storage_pb2_grpc
from services.storage import server
from services.storage.config import StorageConfig


@pytest.fixture(params=["gcs", "local"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    kind = request.param
    store = open_backend(kind, request, tmp_path)
    bucket = new_bucket()
    await store.ensure_bucket(bucket)
    config = StorageConfig(
        storage_listen="127.0.0.1:0",
        storage_backend=kind,
        storage_bucket=bucket,
        storage_local_dir=str(tmp_path / "buckets"),
        storage_create_bucket=False,
        storage_max_object_bytes=MAX_OBJECT_BYTES,
    )
    service: GrpcService = await server.start(config, store=store)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield Harness(kind, store, bucket, storage_pb2_grpc.StorageServiceStub(channel))
    await service.stop(0)
