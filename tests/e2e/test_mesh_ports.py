"""The embedded mesh's ports: chosen where no client takes them, and chosen again when a server
finds its port taken at start (a mesh on free ports must not fail for someone else's bind)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from programs.mesh import launcher, servers
from programs.mesh.launcher import Mesh, MeshPorts


@pytest.fixture
def listener() -> Iterator[int]:
    """A port somebody else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((servers.HOST, 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = [servers.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(servers.PORT_FLOOR <= port < servers._ephemeral_floor() for port in ports)
    for port in ports[:20]:
        servers.ensure_port_free(port, "test")


def test_a_server_whose_port_is_taken_says_so(tmp_path: Path, listener: int) -> None:
    with pytest.raises(servers.PortInUseError, match=f"sandbox found its port {listener} taken"):
        launcher._start_sandbox(listener, [], tmp_path)
    mesh = Mesh(MeshPorts(), tmp_path, api_key="k", codec_keys=launcher.new_key_spec())
    env = {
        **mesh.service_env(),
        "GDTMESH_STORAGE_LISTEN": f"{servers.HOST}:{listener}",
        "GDTMESH_STORAGE_BACKEND": "local",
        "GDTMESH_STORAGE_ROOT": str(tmp_path / "bucket"),
        "GDTMESH_METRICS_LISTEN": "",
    }
    with pytest.raises(servers.PortInUseError, match="storage found its port"):
        launcher._start_service("storage", "services.storage", listener, env, tmp_path)


def test_other_failures_at_start_are_not_taken_for_a_port(tmp_path: Path) -> None:
    # The log of an earlier start that did meet a taken port must not count either.
    (tmp_path / "broken.log").write_text("address already in use\n")
    argv = [sys.executable, "-c", "import sys; print('bad configuration'); sys.exit(2)"]
    with pytest.raises(RuntimeError, match="broken exited with code 2") as raised:
        servers.spawn("broken", argv, 0, lambda: False, log_dir=tmp_path)
    assert not isinstance(raised.value, servers.PortInUseError)


def test_a_mesh_on_free_ports_chooses_again_when_a_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[MeshPorts] = []

    def start_mesh(ports: MeshPorts, state_dir: Path, **options: object) -> str:
        tried.append(ports)
        if len(tried) < launcher.START_ATTEMPTS:
            raise servers.PortInUseError("taken")
        return "mesh"

    monkeypatch.setattr(launcher, "start_mesh", start_mesh)
    assert launcher.start_mesh_on_free_ports(tmp_path) == "mesh"
    assert len({ports.gateway for ports in tried}) == launcher.START_ATTEMPTS


def test_a_mesh_on_free_ports_gives_up_after_its_attempts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[MeshPorts] = []

    def start_mesh(ports: MeshPorts, state_dir: Path, **options: object) -> str:
        tried.append(ports)
        raise servers.PortInUseError("taken")

    monkeypatch.setattr(launcher, "start_mesh", start_mesh)
    with pytest.raises(servers.PortInUseError):
        launcher.start_mesh_on_free_ports(tmp_path)
    assert len(tried) == launcher.START_ATTEMPTS
