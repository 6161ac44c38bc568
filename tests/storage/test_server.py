"""The service as it is deployed: configuration, backend choice, bucket creation at start,
health, large messages, and the process itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from storage_helpers import FOLDER, SELLER, new_bucket, write_request

from gdtmesh.runtime.config import ConfigError, load
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from programs.mesh.servers import HOST, ManagedProcess, free_port
from services.storage import server
from services.storage.config import StorageConfig

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_variable_names() -> None:
    config = load(StorageConfig, "GDTMESH_", {})
    assert config.storage_listen == "127.0.0.1:50062"
    assert (config.storage_backend, config.storage_bucket) == ("gcs", "gdtmesh-invoices")
    assert config.storage_max_object_bytes == 8 * 1024 * 1024
    environ = {
        "GDTMESH_STORAGE_LISTEN": "0.0.0.0:6000",
        "GDTMESH_STORAGE_BACKEND": "local",
        "GDTMESH_STORAGE_BUCKET": "books",
        "GDTMESH_STORAGE_LOCAL_DIR": "/srv/buckets",
        "GDTMESH_STORAGE_PROJECT": "acme",
        "GDTMESH_STORAGE_MAX_OBJECT_BYTES": "1000",
        "GDTMESH_STORAGE_CREATE_BUCKET": "false",
    }
    config = load(StorageConfig, "GDTMESH_", environ)
    assert (config.storage_listen, config.storage_backend) == ("0.0.0.0:6000", "local")
    assert (config.storage_bucket, config.storage_local_dir) == ("books", "/srv/buckets")
    assert (config.storage_project, config.storage_max_object_bytes) == ("acme", 1000)
    assert config.storage_create_bucket is False


@pytest.mark.parametrize(
    "variable, value, complaint",
    [
        ("GDTMESH_STORAGE_BACKEND", "s3", "must be one of gcs, local"),
        ("GDTMESH_STORAGE_BUCKET", "../x", "GDTMESH_STORAGE_BUCKET must be"),
        ("GDTMESH_STORAGE_LISTEN", "nowhere", "GDTMESH_STORAGE_LISTEN must be host:port"),
        ("GDTMESH_STORAGE_MAX_OBJECT_BYTES", "0", "between 1 and 64 MiB"),
        ("GDTMESH_STORAGE_CREATE_BUCKET", "maybe", "expected a boolean"),
    ],
)
def test_bad_configuration_is_one_clear_error(variable: str, value: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load(StorageConfig, "GDTMESH_", {variable: value})


def test_buckets_are_created_only_for_the_emulator_and_the_local_backend() -> None:
    gcs = StorageConfig(storage_backend="gcs")
    assert server.may_create_bucket(gcs, {"STORAGE_EMULATOR_HOST": "http://127.0.0.1:1"})
    assert not server.may_create_bucket(gcs, {})
    assert server.may_create_bucket(StorageConfig(storage_backend="local"), {})
    assert not server.may_create_bucket(
        StorageConfig(storage_backend="local", storage_create_bucket=False), {}
    )


@pytest.mark.parametrize("backend", ["gcs", "local"])
async def test_the_configured_backend_starts_with_its_bucket_and_is_healthy(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend == "gcs":
        fake_gcs: ManagedProcess = request.getfixturevalue("fake_gcs")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{fake_gcs.address}")
    bucket = new_bucket()
    config = StorageConfig(
        storage_listen="127.0.0.1:0",
        storage_backend=backend,
        storage_bucket=bucket,
        storage_local_dir=str(tmp_path),
        storage_max_object_bytes=16 * 1024 * 1024,
    )
    service = await server.start(config)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(
                health_pb2.HealthCheckRequest(service=server.SERVICE_NAME), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            stub = storage_pb2_grpc.StorageServiceStub(channel)
            # A body of several MiB: beyond gRPC's default 4 MiB and GCS's multipart limit.
            request_ = write_request(1)
            request_.original_xml = b"<HDon>" + b"x" * (9 * 1024 * 1024) + b"</HDon>"
            response = await stub.WriteInvoice(request_, timeout=60)
            assert response.original.size == len(request_.original_xml)
            assert response.original.outcome == storage_pb2.WRITE_OUTCOME_WRITTEN
            again = await stub.WriteInvoice(request_, timeout=60)
            assert again.original.outcome == storage_pb2.WRITE_OUTCOME_ALREADY_STORED
            assert again.detail.name == FOLDER + f"{SELLER}-1-K25TEK-1.json"
    finally:
        await service.stop(0)


async def test_a_missing_bucket_stops_the_start_when_creation_is_off(tmp_path: Path) -> None:
    config = StorageConfig(
        storage_listen="127.0.0.1:0",
        storage_backend="local",
        storage_local_dir=str(tmp_path),
        storage_create_bucket=False,
    )
    service = await server.start(config)  # creation off: nothing touched, first write says so
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = storage_pb2_grpc.StorageServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.WriteInvoice(write_request(1), timeout=10)
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            assert "gdtmesh-invoices" in (caught.value.details() or "")
    finally:
        await service.stop(0)
    assert os.listdir(tmp_path) == []


def test_the_process_refuses_a_bad_configuration_with_exit_code_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.storage"],
        cwd=ROOT,
        env={**os.environ, "GDTMESH_STORAGE_BACKEND": "ftp"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "storage: bad configuration: GDTMESH_STORAGE_BACKEND must be one of gcs, local, got 'ftp'"
    ]


def test_the_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "GDTMESH_STORAGE_LISTEN": f"{HOST}:{port}",
        "GDTMESH_STORAGE_BACKEND": "local",
        "GDTMESH_STORAGE_LOCAL_DIR": str(tmp_path),
        "GDTMESH_STORAGE_SHUTDOWN_GRACE_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.storage"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = storage_pb2_grpc.StorageServiceStub(channel)
            response = stub.WriteInvoice(write_request(1), timeout=10)
        assert (tmp_path / "gdtmesh-invoices" / response.detail.name).is_file()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
