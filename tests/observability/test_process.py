"""The shared bootstrap in real processes: spans still buffered are exported when SIGTERM stops
the process, the metrics endpoint serves the RPC counters, and a bad configuration (a bad
metrics address included) is one line and exit code 2, whether the process is started as
`python -m <package>` or `gdtmesh serve <process>`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from otlp_receiver import OtlpReceiver
from prometheus_client.parser import text_string_to_metric_families

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from gdtmesh.runtime.codec import new_key_spec
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from programs.mesh.launcher import grpc_healthy
from programs.mesh.servers import HOST, ManagedProcess, free_port, spawn

API_KEY = "flush-test-key-0123456789"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver().start()
    yield running
    running.stop()


def otel_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # nothing leaves before shutdown
    }


def start(name: str, module: str, env: dict[str, str], port: int) -> ManagedProcess:
    argv = [sys.executable, "-m", module]
    return spawn(name, argv, port, lambda: grpc_healthy(f"{HOST}:{port}"), env=env)


def stop_gracefully(process: ManagedProcess) -> int:
    process.stop(timeout=20)
    return int(process.popen.returncode)


def handled(metrics_port: int, method: str, code: str) -> float:
    """The RPCs counted so far (the client may hear the status just before the count)."""
    deadline = time.monotonic() + 5
    while (count := _handled(metrics_port, method, code)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def _handled(metrics_port: int, method: str, code: str) -> float:
    with urllib.request.urlopen(f"http://{HOST}:{metrics_port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "grpc_server_handled_total"
        and sample.labels.get("grpc_method") == method
        and sample.labels.get("grpc_code") == code
    )


def test_storage_flushes_its_spans_on_sigterm(receiver: OtlpReceiver, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        **otel_env(receiver),
        "GDTMESH_STORAGE_LISTEN": f"{HOST}:{port}",
        "GDTMESH_STORAGE_BACKEND": "local",
        "GDTMESH_STORAGE_LOCAL_DIR": str(tmp_path),
        "GDTMESH_METRICS_LISTEN": f"{HOST}:{metrics_port}",
    }
    process = start("storage", "services.storage", env, port)
    try:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            stub = storage_pb2_grpc.StorageServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.WriteInvoice(storage_pb2.WriteInvoiceRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert handled(metrics_port, "WriteInvoice", "INVALID_ARGUMENT") == 1
        assert not receiver.spans()  # still buffered
    finally:
        code = stop_gracefully(process)
    assert code == 0
    names = {(s.service, s.name) for s in receiver.spans()}
    assert ("storage", "/gdtmesh.storage.v1.StorageService/WriteInvoice") in names


def test_the_gateway_flushes_its_spans_on_sigterm(
    receiver: OtlpReceiver, temporal_server: ManagedProcess
) -> None:
    port = free_port()
    env = {
        **otel_env(receiver),
        "GDTMESH_GATEWAY_LISTEN": f"{HOST}:{port}",
        "GDTMESH_TEMPORAL_ADDRESS": temporal_server.address,
        "GDTMESH_CODEC_KEYS": new_key_spec(),
        "GDTMESH_API_KEYS": f"tenant:{API_KEY}",
        "GDTMESH_TASK_QUEUE": "flush-test",
    }
    process = start("gateway", "services.gateway", env, port)
    try:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            stub = gateway_pb2_grpc.TaskServiceStub(channel)
            request = gateway_pb2.GetTaskRequest(task_id="tenant:invoice-import:nothing")
            with pytest.raises(grpc.RpcError):
                stub.GetTask(request, metadata=(("x-api-key", API_KEY),), timeout=10)
    finally:
        code = stop_gracefully(process)
    assert code == 0
    spans = receiver.spans()
    assert any(s.name == "/gdtmesh.gateway.v1.TaskService/GetTask" for s in spans)
    assert all(s.service == "gateway" for s in spans)


BAD_METRICS = {
    "GDTMESH_STORAGE_BACKEND": "local",
    "GDTMESH_STORAGE_LISTEN": f"{HOST}:0",
    "GDTMESH_METRICS_LISTEN": "everywhere",
}


@pytest.mark.parametrize(
    ("argv", "variables", "line"),
    [
        (
            ["-m", "services.storage"],
            BAD_METRICS,
            "storage: GDTMESH_METRICS_LISTEN must be host:port, got 'everywhere'",
        ),
        (
            ["-m", "programs.cli", "serve", "storage"],
            BAD_METRICS,
            "storage: GDTMESH_METRICS_LISTEN must be host:port, got 'everywhere'",
        ),
        (
            ["-m", "programs.cli", "serve", "gdt_connector"],
            {"GDTMESH_PORTAL_MAX_WAIT_SECONDS": "-1"},
            "gdt_connector: bad configuration: GDTMESH_PORTAL_MAX_WAIT_SECONDS and "
            "GDTMESH_GDT_CONNECTOR_TOKEN_RENEW_MARGIN_SECONDS must not be negative",
        ),
    ],
    ids=["python -m services.storage", "gdtmesh serve storage", "gdtmesh serve gdt_connector"],
)
def test_a_bad_configuration_is_one_line(
    argv: list[str], variables: dict[str, str], line: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDTMESH_")}
    result = subprocess.run(
        [sys.executable, *argv],
        env={**env, **variables},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [line]
