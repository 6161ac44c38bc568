"""`gdtmesh up`: the whole mesh as real processes on loopback.

Order: Temporal dev server, Redis, fake-gcs-server, the sandbox portal, storage, connector,
gateway, worker. Each is waited for until healthy (gRPC health for our services, the task
queue's pollers for the worker), and everything is stopped in reverse order.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gdtmesh.mesh import servers
from gdtmesh.mesh.servers import HOST, ManagedProcess
from gdtmesh.runtime.codec import new_key_spec

TASK_QUEUE = "gdtmesh-imports"
DEMO_TENANT = "demo"
DEFAULT_BUCKET = "gdtmesh-invoices"


@dataclass(frozen=True)
class MeshPorts:
    """Where each process listens. The defaults are what the README's examples use."""

    gateway: int = 50051
    connector: int = 50061
    storage: int = 50062
    sandbox: int = 8480
    temporal: int = 7233
    temporal_ui: int = 8233
    redis: int = 6399
    gcs: int = 4443
    # Prometheus endpoints (GDTMESH_METRICS_LISTEN) of our processes; connector and worker
    # replicas serve none.
    gateway_metrics: int = 9464
    connector_metrics: int = 9465
    storage_metrics: int = 9466
    worker_metrics: int = 9467

    @classmethod
    def free(cls) -> MeshPorts:
        """Any free ports (tests run several meshes side by side)."""
        return cls(**{f.name: servers.free_port() for f in dataclasses.fields(cls)})

    def check_free(self) -> None:
        for name, port in dataclasses.asdict(self).items():
            servers.ensure_port_free(port, name.replace("_", " "))


@dataclass
class Mesh:
    ports: MeshPorts
    state_dir: Path
    api_key: str
    codec_keys: str
    bucket: str = DEFAULT_BUCKET
    # Seals the portal passwords the connector keeps in Redis; shared by every replica.
    connector_key: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    processes: list[ManagedProcess] = field(default_factory=list)

    def endpoints(self) -> dict[str, str]:
        """What a client needs: addresses and the demo tenant's credentials."""
        p = self.ports
        return {
            "gateway": f"{HOST}:{p.gateway}",
            "temporal": f"{HOST}:{p.temporal}",
            "temporal_ui": f"http://{HOST}:{p.temporal_ui}",
            "sandbox": f"http://{HOST}:{p.sandbox}",
            "connector": f"{HOST}:{p.connector}",
            "storage": f"{HOST}:{p.storage}",
            "redis": f"redis://{HOST}:{p.redis}/0",
            "gcs": f"http://{HOST}:{p.gcs}",
            "bucket": self.bucket,
            "task_queue": TASK_QUEUE,
            "tenant": DEMO_TENANT,
            "api_key": self.api_key,
            "authorization": f"Bearer {self.api_key}",
            "logs": str(self.state_dir / "logs"),
            **{
                f"{name}_metrics": f"http://{HOST}:{port}/metrics"
                for name, port in self.metrics_ports().items()
            },
        }

    def process(self, name: str) -> ManagedProcess:
        return next(p for p in self.processes if p.name == name)

    def service_env(self) -> dict[str, str]:
        """The GDTMESH_* variables of every process (same names as deploy/compose)."""
        p = self.ports
        return {
            "GDTMESH_LOG_LEVEL": "INFO",
            "GDTMESH_METRICS_LISTEN": "",  # per process: `process_env`
            "GDTMESH_TEMPORAL_ADDRESS": f"{HOST}:{p.temporal}",
            "GDTMESH_TEMPORAL_NAMESPACE": "default",
            "GDTMESH_TASK_QUEUE": TASK_QUEUE,
            "GDTMESH_CODEC_KEYS": self.codec_keys,
            "GDTMESH_API_KEYS": f"{DEMO_TENANT}:{self.api_key}",
            "GDTMESH_DEFAULT_BUCKET": self.bucket,
            "GDTMESH_GATEWAY_LISTEN": f"{HOST}:{p.gateway}",
            "GDTMESH_CONNECTOR_LISTEN": f"{HOST}:{p.connector}",
            "GDTMESH_CONNECTOR_ADDRESS": f"{HOST}:{p.connector}",
            "GDTMESH_CONNECTOR_SECRET_KEY": self.connector_key,
            "GDTMESH_STORAGE_LISTEN": f"{HOST}:{p.storage}",
            "GDTMESH_STORAGE_ADDRESS": f"{HOST}:{p.storage}",
            "GDTMESH_PORTAL_BASE_URL": f"http://{HOST}:{p.sandbox}",
            "GDTMESH_PORTAL_PATH_PREFIX": "/api",
            "GDTMESH_REDIS_URL": f"redis://{HOST}:{p.redis}/0",
            # The sandbox is ours to load: pace well above the real portal's polite 1 req/s.
            "GDTMESH_PORTAL_ACCOUNT_RATE": "25",
            "GDTMESH_PORTAL_ACCOUNT_BURST": "25",
            "GDTMESH_PORTAL_GLOBAL_RATE": "200",
            "GDTMESH_PORTAL_GLOBAL_BURST": "200",
            "GDTMESH_STORAGE_BACKEND": "gcs",
            "GDTMESH_STORAGE_BUCKET": self.bucket,
            "GDTMESH_STORAGE_PROJECT": "gdtmesh-local",
            "GDTMESH_STORAGE_CREATE_BUCKET": "true",
            "STORAGE_EMULATOR_HOST": f"http://{HOST}:{p.gcs}",
        }

    def metrics_ports(self) -> dict[str, int]:
        p = self.ports
        return {
            "gateway": p.gateway_metrics,
            "connector": p.connector_metrics,
            "storage": p.storage_metrics,
            "worker": p.worker_metrics,
        }

    def process_env(self, process: str) -> dict[str, str]:
        """What one of our processes gets on top of `service_env`: its own metrics endpoint,
        and its name in traces (the compose mesh's service name)."""
        return {
            "GDTMESH_METRICS_LISTEN": f"{HOST}:{self.metrics_ports()[process]}",
            "OTEL_SERVICE_NAME": process,
        }

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()


def start_mesh(
    ports: MeshPorts,
    state_dir: Path,
    *,
    sandbox_args: Sequence[str] = (),
    extra_env: dict[str, str] | None = None,
    on_started: Callable[[str], None] | None = None,
) -> Mesh:
    """Start every process; on any failure stop what was started and re-raise."""
    ports.check_free()
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    mesh = Mesh(ports, state_dir, api_key=secrets.token_urlsafe(24), codec_keys=new_key_spec())
    env = {**mesh.service_env(), **(extra_env or {})}
    note = on_started or (lambda name: None)
    try:
        mesh.processes.append(
            servers.start_temporal(
                ports.temporal,
                ports.temporal_ui,
                db_path=state_dir / "temporal.db",
                log_dir=logs,
                search_attributes=_search_attributes(),  # ListTasks queries them
            )
        )
        note("temporal")
        mesh.processes.append(servers.start_redis(ports.redis, log_dir=logs))
        note("redis")
        mesh.processes.append(servers.start_fake_gcs(ports.gcs, log_dir=logs))
        note("fake-gcs-server")
        mesh.processes.append(_start_sandbox(ports.sandbox, sandbox_args, logs))
        note("sandbox")
        for name, module, port in (
            ("storage", "services.storage", ports.storage),
            ("connector", "services.gdt_connector", ports.connector),
            ("gateway", "services.gateway", ports.gateway),
        ):
            own_env = {**env, **mesh.process_env(name)}
            mesh.processes.append(_start_service(name, module, port, own_env, logs))
            note(name)
        worker_env = {**env, **mesh.process_env("worker")}
        mesh.processes.append(_start_worker(worker_env, logs, ports.temporal))
        note("worker")
    except BaseException:
        mesh.stop()
        raise
    return mesh


def _start_sandbox(port: int, args: Sequence[str], logs: Path) -> ManagedProcess:
    # A frozen clock: invoices that "arrive" during an import would make exact checks flaky.
    argv = [sys.executable, "-m", "gdtmesh.cli", "sandbox", "--host", HOST, "--port", str(port)]
    argv += ["--freeze-clock"]

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/_sandbox/companies", timeout=1):
                return True
        except OSError:
            return False

    return servers.spawn("sandbox", [*argv, *args], port, ready, log_dir=logs)


def _start_service(
    name: str, module: str, port: int, env: dict[str, str], logs: Path
) -> ManagedProcess:
    argv = [sys.executable, "-m", module]
    ready = functools.partial(grpc_healthy, f"{HOST}:{port}")
    return servers.spawn(name, argv, port, ready, log_dir=logs, env=env)


def grpc_healthy(address: str, timeout: float = 1.0) -> bool:
    """True when the server at `address` answers the gRPC health check with SERVING."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _start_worker(env: dict[str, str], logs: Path, temporal_port: int) -> ManagedProcess:
    argv = [sys.executable, "-m", "workers"]
    return servers.spawn(
        "worker", argv, 0, lambda: _has_pollers(temporal_port), log_dir=logs, env=env
    )


def _has_pollers(temporal_port: int) -> bool:
    """The worker is ready once it polls the task queue."""
    address = f"{HOST}:{temporal_port}"
    result = subprocess.run(
        [
            servers.temporal_binary(),
            "task-queue",
            "describe",
            "--task-queue",
            TASK_QUEUE,
            "--address",
            address,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if result.returncode != 0:
        return False
    try:
        return bool(json.loads(result.stdout).get("pollers"))
    except (ValueError, AttributeError):
        return False


def wait_forever() -> None:
    while True:
        time.sleep(3600)


def _search_attributes() -> tuple[str, ...]:
    from services.gateway.visibility import SEARCH_ATTRIBUTE_FLAGS  # heavy: Temporal's SDK

    return SEARCH_ATTRIBUTE_FLAGS
