"""`python -m workers` from GDTMESH_* variables: polls the task queue, stops cleanly on SIGTERM;
a bad configuration is one line (never the key) and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from gdtmesh.runtime.codec import new_key_spec
from programs.mesh.servers import ManagedProcess, spawn, temporal_binary


def has_pollers(temporal: ManagedProcess, task_queue: str) -> bool:
    command = [temporal_binary(), "task-queue", "describe", "-o", "json", "--task-queue"]
    described = subprocess.run(
        [*command, task_queue, "--address", temporal.address],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return described.returncode == 0 and bool(json.loads(described.stdout).get("pollers"))


def test_the_worker_process_polls_from_the_environment(temporal_server: ManagedProcess) -> None:
    task_queue = f"worker-process-{uuid.uuid4().hex[:8]}"
    env = {
        "GDTMESH_CODEC_KEYS": new_key_spec(),
        "GDTMESH_TEMPORAL_ADDRESS": temporal_server.address,
        "GDTMESH_TASK_QUEUE": task_queue,
        "GDTMESH_GDT_CONNECTOR_ADDRESS": "127.0.0.1:50061",
        "GDTMESH_STORAGE_ADDRESS": "127.0.0.1:50062",
        "GDTMESH_WORKER_SHUTDOWN_GRACE_SECONDS": "1",
    }
    process = spawn(
        "worker",
        [sys.executable, "-m", "workers"],
        0,
        lambda: has_pollers(temporal_server, task_queue),
        env=env,
    )
    process.stop()
    assert process.popen.returncode == 0


def test_a_bad_configuration_is_one_line_without_the_key() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDTMESH_")}
    env["GDTMESH_CODEC_KEYS"] = "k1:c2hvcnQ="  # base64 of "short"
    env["GDTMESH_GDT_CONNECTOR_ADDRESS"] = "gdt_connector"  # no port
    env["GDTMESH_STORAGE_ADDRESS"] = "127.0.0.1:50062"
    done = subprocess.run(
        [sys.executable, "-m", "workers"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("worker: bad configuration:") and "must be 16, 24 or 32 bytes" in line
    assert "c2hvcnQ" not in line
