"""Worker test fixtures: a codec-encrypted Temporal client on the session's dev server and a
fresh task queue per test."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from gdtmesh.runtime.codec import new_key_spec, parse_keys
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import ManagedProcess

CODEC_KEYS = new_key_spec("test")


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: ManagedProcess) -> Client:
    return await connect_temporal(temporal_server.address, "default", parse_keys(CODEC_KEYS))


@pytest.fixture
def task_queue() -> str:
    return f"worker-test-{uuid.uuid4().hex[:12]}"
