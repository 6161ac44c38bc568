"""`python -m services.gateway` from GDTMESH_* variables: serves, authenticates, reaches Temporal,
stops cleanly on SIGTERM; a bad configuration is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
from gateway_support import CODEC_KEYS, KEY_A
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gdtmesh.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from programs.mesh.servers import HOST, ManagedProcess, free_port, spawn


def gateway_env(temporal: ManagedProcess, port: int, codec_port: int) -> dict[str, str]:
    return {
        "GDTMESH_CODEC_KEYS": CODEC_KEYS,
        "GDTMESH_API_KEYS": f"tenant-a:{KEY_A}",
        "GDTMESH_GATEWAY_LISTEN": f"{HOST}:{port}",
        "GDTMESH_TEMPORAL_ADDRESS": temporal.address,
        "GDTMESH_TASK_QUEUE": "gateway-process-test",
        "GDTMESH_DEFAULT_BUCKET": "default-bucket",
        "GDTMESH_CODEC_LISTEN": f"{HOST}:{codec_port}",
        "GDTMESH_CODEC_TOKENS": "operator-token-0123456789",
    }


def serving(port: int) -> bool:
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def test_the_gateway_process_serves_from_the_environment(temporal_server: ManagedProcess) -> None:
    port, codec_port = free_port(), free_port()
    process = spawn(
        "gateway",
        [sys.executable, "-m", "services.gateway"],
        port,
        lambda: serving(port),
        env=gateway_env(temporal_server, port, codec_port),
    )
    try:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            stub = gateway_pb2_grpc.TaskServiceStub(channel)
            request = gateway_pb2.GetTaskRequest(task_id="tenant-a:invoice-import:nothing")
            try:
                stub.GetTask(request, metadata=(("x-api-key", KEY_A),), timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
            else:
                raise AssertionError("an unknown task was found")
        codec = urllib.request.Request(f"http://{HOST}:{codec_port}/decode", b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(codec, timeout=5)  # the codec endpoint is up, and locked
        assert refused.value.code == 401
    finally:
        process.stop()
    assert process.popen.returncode == 0


def test_a_bad_configuration_is_one_clear_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GDTMESH_")}
    env["GDTMESH_CODEC_KEYS"] = CODEC_KEYS
    env["GDTMESH_API_KEYS"] = "tenant-a:short"
    done = subprocess.run(
        [sys.executable, "-m", "services.gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gateway: bad configuration: GDTMESH_API_KEYS: the key of tenant 'tenant-a' must be at "
        "least 16 characters without spaces"
    ]
