"""`gdtmesh up`: the whole mesh as real processes on loopback.

Order: Temporal dev server, Redis, fake-gcs-server, the sandbox portal, storage, connector,
gateway, worker. Each is waited for until healthy (gRPC health for our services, the task
queue's pollers for the worker), and everything is stopped in reverse order.

Connector replicas (`connector_replicas=N`, for the benchmarks): the worker dials one
GDTMESH_GDT_CONNECTOR_ADDRESS, so replica i gets a worker of its own (`connector-i`, `worker-i`);
Temporal spreads the activities over the workers and therefore over the replicas, which share
sessions and budgets through Redis. This is how the compose mesh scales too (more workers and
connectors), and it needs no client-side load balancing in the worker.
"""

from __future__ import annotations

import base64
import contextlib
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
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gdtmesh.import_contract import TASK_QUEUE
from gdtmesh.runtime.codec import new_key_spec
from programs.mesh import servers
from programs.mesh.servers import HOST, ManagedProcess

DEMO_TENANT = "demo"
DEFAULT_BUCKET = "gdtmesh-invoices"


@dataclass(frozen=True)
class MeshPorts:
    """Where each process listens. The defaults are what the README's examples use."""

    gateway: int = 50051
    gdt_connector: int = 50061
    storage: int = 50062
    sandbox: int = 8480
    temporal: int = 7233
    temporal_ui: int = 8233
    redis: int = 6399
    gcs: int = 4443
    codec: int = 8089  # the gateway's remote codec endpoint, for the Temporal UI and CLI
    # Prometheus endpoints (GDTMESH_METRICS_LISTEN) of our processes; connector and worker
    # replicas serve none.
    gateway_metrics: int = 9464
    gdt_connector_metrics: int = 9465
    storage_metrics: int = 9466
    worker_metrics: int = 9467
    temporal_metrics: int = 9468  # the Temporal dev server's own (`temporal_metrics` endpoint)

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
    # Lets the Temporal UI (and an operator's CLI) decrypt payloads at the codec endpoint.
    codec_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    processes: list[ManagedProcess] = field(default_factory=list)
    # How to start each process again (by name), for restarts after a crash.
    starters: dict[str, Callable[[], ManagedProcess]] = field(default_factory=dict)

    def endpoints(self) -> dict[str, str]:
        """What a client needs: addresses and the demo tenant's credentials."""
        p = self.ports
        return {
            "gateway": f"{HOST}:{p.gateway}",
            "temporal": f"{HOST}:{p.temporal}",
            "temporal_ui": f"http://{HOST}:{p.temporal_ui}",
            "sandbox": f"http://{HOST}:{p.sandbox}",
            "gdt_connector": f"{HOST}:{p.gdt_connector}",
            "storage": f"{HOST}:{p.storage}",
            "redis": f"redis://{HOST}:{p.redis}/0",
            "gcs": f"http://{HOST}:{p.gcs}",
            "bucket": self.bucket,
            "task_queue": TASK_QUEUE,
            "tenant": DEMO_TENANT,
            "api_key": self.api_key,
            "authorization": f"Bearer {self.api_key}",
            "logs": str(self.state_dir / "logs"),
            "codec": f"http://{HOST}:{p.codec}",
            "codec_token": self.codec_token,
            **{
                f"{name}_metrics": f"http://{HOST}:{port}/metrics"
                for name, port in self.metrics_ports().items()
            },
            "temporal_metrics": f"http://{HOST}:{p.temporal_metrics}/metrics",
        }

    def process(self, name: str) -> ManagedProcess:
        return next(p for p in self.processes if p.name == name)

    def launch(self, name: str, starter: Callable[[], ManagedProcess]) -> ManagedProcess:
        """Start a process and remember how, so that `restart(name)` can do it again."""
        process = starter()
        self.starters[name] = starter
        self.processes.append(process)
        return process

    def kill(self, name: str) -> None:
        """SIGKILL one process (chaos tests): no grace, no cleanup."""
        self.process(name).kill()

    def restart(self, name: str) -> ManagedProcess:
        """Stop `name` if it still runs, then start it again with the same ports and files
        (Temporal reopens its database file, Redis starts empty)."""
        index = next(i for i, p in enumerate(self.processes) if p.name == name)
        self.processes[index].stop()
        self.processes[index] = self.starters[name]()
        return self.processes[index]

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
            "GDTMESH_CODEC_LISTEN": f"{HOST}:{p.codec}",
            "GDTMESH_CODEC_TOKENS": self.codec_token,
            "GDTMESH_CODEC_CORS_ORIGINS": f"http://{HOST}:{p.temporal_ui},http://localhost:{p.temporal_ui}",
            "GDTMESH_GDT_CONNECTOR_LISTEN": f"{HOST}:{p.gdt_connector}",
            "GDTMESH_GDT_CONNECTOR_ADDRESS": f"{HOST}:{p.gdt_connector}",
            "GDTMESH_GDT_CONNECTOR_SECRET_KEY": self.connector_key,
            "GDTMESH_STORAGE_LISTEN": f"{HOST}:{p.storage}",
            "GDTMESH_STORAGE_ADDRESS": f"{HOST}:{p.storage}",
            "GDTMESH_PORTAL_BASE_URL": f"http://{HOST}:{p.sandbox}",
            "GDTMESH_PORTAL_PATH_PREFIX": "/api",
            "GDTMESH_REDIS_URL": f"redis://{HOST}:{p.redis}/0",
            # The sandbox is ours to load: pace well above the real portal's polite 1 req/s.
            "GDTMESH_PORTAL_ACCOUNT_RATE": "25",
            "GDTMESH_PORTAL_ACCOUNT_BURST": "25",
            "GDTMESH_PORTAL_GLOBAL_RATE": "200",
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
            "gdt_connector": p.gdt_connector_metrics,
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
    connector_replicas: int = 1,
) -> Mesh:
    """Start every process; on any failure stop what was started and re-raise."""
    if connector_replicas < 1:
        raise ValueError("connector_replicas must be at least 1")
    ports.check_free()
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    mesh = Mesh(ports, state_dir, api_key=secrets.token_urlsafe(24), codec_keys=new_key_spec())
    env = {**mesh.service_env(), **(extra_env or {})}
    note = on_started or (lambda name: None)

    def launch(name: str, starter: Callable[[], ManagedProcess]) -> None:
        mesh.launch(name, starter)
        note(name)

    db_path = state_dir / "temporal.db"
    try:
        launch(
            "temporal",
            lambda: servers.start_temporal(
                ports.temporal,
                ports.temporal_ui,
                db_path=db_path,
                log_dir=logs,
                ui_codec_endpoint=f"http://{HOST}:{ports.codec}/t/{mesh.codec_token}",
                search_attributes=_search_attributes(),  # ListTasks queries them
                metrics_port=ports.temporal_metrics,
            ),
        )
        launch("redis", lambda: servers.start_redis(ports.redis, log_dir=logs))
        launch(
            "fake-gcs-server",
            lambda: servers.start_fake_gcs(ports.gcs, log_dir=logs, root=state_dir / "gcs"),
        )
        launch("sandbox", lambda: _start_sandbox(ports.sandbox, sandbox_args, logs))
        for name, module, port in (
            ("storage", "services.storage", ports.storage),
            ("gdt_connector", "services.gdt_connector", ports.gdt_connector),
            ("gateway", "services.gateway", ports.gateway),
        ):
            own_env = {**env, **mesh.process_env(name)}
            launch(name, functools.partial(_start_service, name, module, port, own_env, logs))
        worker_env = {**env, **mesh.process_env("worker")}
        launch(
            "worker", functools.partial(_start_worker, "worker", worker_env, logs, ports.temporal)
        )
        for replica in range(2, connector_replicas + 1):
            _launch_replica(launch, replica, env, logs, ports.temporal)
    except BaseException:
        mesh.stop()
        raise
    return mesh


START_ATTEMPTS = 3


def start_mesh_on_free_ports(state_dir: Path, **options: Any) -> Mesh:
    """`start_mesh` on free ports, chosen again when a process finds its port taken at start
    (another program can bind a port between our choice and the server's bind)."""
    for _ in range(START_ATTEMPTS - 1):
        with contextlib.suppress(servers.PortInUseError):
            return start_mesh(MeshPorts.free(), state_dir, **options)
    return start_mesh(MeshPorts.free(), state_dir, **options)


def _launch_replica(
    launch: Callable[[str, Callable[[], ManagedProcess]], None],
    replica: int,
    env: dict[str, str],
    logs: Path,
    temporal_port: int,
) -> None:
    """One more connector on a free port, and a worker of its own that calls it."""
    port = servers.free_port()
    address = f"{HOST}:{port}"
    connector_env = {**env, "GDTMESH_GDT_CONNECTOR_LISTEN": address}
    worker_env = {**env, "GDTMESH_GDT_CONNECTOR_ADDRESS": address}
    connector = f"gdt_connector-{replica}"
    module = "services.gdt_connector"
    launch(
        connector, functools.partial(_start_service, connector, module, port, connector_env, logs)
    )
    worker = f"worker-{replica}"
    launch(worker, functools.partial(_start_worker, worker, worker_env, logs, temporal_port))


def _start_sandbox(port: int, args: Sequence[str], logs: Path) -> ManagedProcess:
    # A frozen clock: invoices that "arrive" during an import would make exact checks flaky.
    argv = [sys.executable, "-m", "sandbox", "--host", HOST, "--port", str(port), "--freeze-clock"]

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


def _start_worker(name: str, env: dict[str, str], logs: Path, temporal_port: int) -> ManagedProcess:
    argv = [sys.executable, "-m", "workers"]
    started: list[ManagedProcess] = []

    def ready() -> bool:
        # This very process must poll: other workers, or the one a crash left behind (the
        # server lists pollers for minutes), would make any poller look like readiness.
        pid = started[0].popen.pid if started else None
        return pid is not None and _has_pollers(temporal_port, identity_prefix=f"{pid}@")

    return servers.spawn(name, argv, 0, ready, log_dir=logs, env=env, on_spawn=started.append)


def _has_pollers(temporal_port: int, identity_prefix: str = "") -> bool:
    """The task queue has a poller (whose identity starts with `identity_prefix`)."""
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
        pollers = json.loads(result.stdout).get("pollers") or []
        return any(str(p.get("identity", "")).startswith(identity_prefix) for p in pollers)
    except (ValueError, AttributeError):
        return False


def wait_forever() -> None:
    while True:
        time.sleep(3600)


def _search_attributes() -> tuple[str, ...]:
    from services.gateway.visibility import SEARCH_ATTRIBUTE_FLAGS  # heavy: Temporal's SDK

    return SEARCH_ATTRIBUTE_FLAGS
