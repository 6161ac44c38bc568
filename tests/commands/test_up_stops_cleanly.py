"""`gdtmesh up` stops every process of the mesh however its reader goes away: Ctrl-C while its
output is piped into a reader that is gone (`make run | tee run.log`, both get the Ctrl-C), or the
terminal closed (SIGHUP); its temporary state folder goes with it."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from programs.mesh import servers
from tests.support.up import UpProcess, alive, kill_all, start_up

Stopped = tuple[UpProcess, set[int], int]  # the command, its processes, its exit code


@pytest.fixture(params=[signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-gone"])
def stopped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stopped]:
    up = start_up(tmp_path / "mesh.json")
    children = up.descendants()
    try:
        assert up.popen.stdout is not None
        up.popen.stdout.close()  # the reader is gone: the next print meets a broken pipe
        up.popen.send_signal(request.param)
        code = up.popen.wait(120)
        yield up, children, code
    finally:
        up.popen.kill()
        kill_all(children)


def test_every_process_stops_and_the_state_folder_goes(
    stopped: Stopped,
) -> None:
    up, children, code = stopped
    assert len(children) >= 8, "the mesh's eight processes"
    assert [pid for pid in children if alive(pid)] == []
    ports = {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", json.dumps(up.endpoints))}
    assert len(ports) >= 13, "every listening port of the mesh"
    assert [port for port in ports if servers.port_open(port)] == []
    assert not up.state_dir.exists()
    assert code == 0


def test_a_given_state_dir_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = start_up(tmp_path / "mesh.json", "--state-dir", str(state))
    children = up.descendants()
    try:
        assert up.stop() == 0
        assert (state / "logs" / "gateway.log").exists()
    finally:
        kill_all(children)
