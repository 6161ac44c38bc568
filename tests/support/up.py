"""A real `gdtmesh up --free-ports` subprocess, as an operator runs it, for the tests that judge
the command itself (stopping, the docs' examples)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GDTMESH = Path(sys.executable).parent / "gdtmesh"
UP_MARKER = "mesh is up"


@dataclass
class UpProcess:
    popen: subprocess.Popen[str]
    endpoints: dict[str, Any]
    state_dir: Path
    output: list[str]

    def descendants(self) -> set[int]:
        return descendants(self.popen.pid)

    def stop(self, timeout: float = 90) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        return self.popen.wait(timeout)


def start_up(endpoints_file: Path, *extra: str, env: dict[str, str] | None = None) -> UpProcess:
    """Start `gdtmesh up` and read its stdout (a pipe) until the mesh is up."""
    popen = subprocess.Popen(
        [str(GDTMESH), "up", "--free-ports", "--endpoints-file", str(endpoints_file), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert popen.stdout is not None
    output: list[str] = []
    for line in popen.stdout:
        output.append(line)
        if line.startswith(UP_MARKER):
            break
    else:
        popen.wait(30)
        stderr = popen.stderr.read() if popen.stderr else ""
        raise RuntimeError(f"gdtmesh up ended at start:\n{''.join(output)}{stderr}")
    state = next(line for line in output if line.startswith("starting the mesh"))
    state_dir = Path(state.split("state and logs in ", 1)[1].rstrip(")\n"))
    return UpProcess(popen, json.loads(endpoints_file.read_text()), state_dir, output)


def descendants(pid: int) -> set[int]:
    """Every living process below `pid` (from /proc: parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill_all(pids: set[int]) -> None:
    """What a failed test leaves behind must not outlive the test."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
