"""Start the whole mesh as real processes on loopback and keep it up until Ctrl-C.

Starts the Temporal dev server (with its UI), Redis, fake-gcs-server, the sandbox portal, the
storage, connector and gateway services and a worker; waits until each is healthy; then, with
--demo, imports every sandbox demo company (all four flows) with a live progress view and
compares the bucket with the sandbox's ground truth. Process logs go to STATE_DIR/logs/.

Default ports: gateway 50051, connector 50061, storage 50062, sandbox 8480, Temporal 7233
(UI 8233, which decrypts payloads through the gateway's codec endpoint on 8089), Redis 6399,
fake-gcs-server 4443, Prometheus metrics 9464-9468 (gateway, connector, storage, worker,
the Temporal server);
--free-ports picks free ones instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

HELP = "start the embedded mesh on loopback (and, with --demo, import the demo companies)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", help="import the sandbox demo companies")
    parser.add_argument("--endpoints-file", type=Path, help="write the endpoints as JSON here")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="Temporal database, the fake bucket and logs (default: a temporary folder)",
    )
    parser.add_argument("--free-ports", action="store_true", help="use any free ports")
    parser.add_argument(
        "--exit-after-demo",
        action="store_true",
        help="stop the mesh after the demo (exit code 0 only if the bucket matches the truth)",
    )


def _interrupt(*_: object) -> None:
    """SIGTERM and SIGHUP (the terminal gone) end the mesh the way Ctrl-C does."""
    raise KeyboardInterrupt


def _say(*lines: str) -> None:
    """Print for whoever reads; a reader that went away (`| tee` killed by the same Ctrl-C,
    a closed terminal) must not stop us from stopping the mesh: later output goes nowhere."""
    try:
        for line in lines:
            print(line, flush=True)
    except (BrokenPipeError, OSError):
        _silence_stdout()


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
    os.close(devnull)


def run(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="gdtmesh-"))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return _run(args, state_dir)
    finally:
        if args.state_dir is None:  # ours: the Temporal database, the fake bucket, the logs
            shutil.rmtree(state_dir, ignore_errors=True)


def _run(args: argparse.Namespace, state_dir: Path) -> int:
    import asyncio

    from programs.mesh.demo import run_demo
    from programs.mesh.launcher import (
        MeshPorts,
        start_mesh,
        start_mesh_on_free_ports,
        wait_forever,
    )
    from programs.mesh.servers import BIN_DIR, PortInUseError

    _say(f"starting the mesh (state and logs in {state_dir})")
    try:
        on_started = lambda name: _say(f"  {name} up")  # noqa: E731
        if args.free_ports:
            mesh = start_mesh_on_free_ports(state_dir, on_started=on_started)
        else:
            mesh = start_mesh(MeshPorts(), state_dir, on_started=on_started)
    except (PortInUseError, RuntimeError, TimeoutError) as error:
        print(f"gdtmesh up: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # start_mesh stopped what it had started
        return 130
    try:
        endpoints = mesh.endpoints()
        if args.endpoints_file:
            args.endpoints_file.write_text(json.dumps(endpoints, indent=2) + "\n")
            os.chmod(args.endpoints_file, 0o600)  # it holds the demo API key
        _say(json.dumps({k: v for k, v in endpoints.items() if k != "api_key"}, indent=2))
        ok = True
        if args.demo:
            ok = asyncio.run(run_demo(endpoints))
            _say("demo import: " + ("bucket matches the ground truth" if ok else "MISMATCH"))
        if args.exit_after_demo:
            return 0 if ok else 1
        _say(
            f"grpcurl, gdtmesh and temporal are in {BIN_DIR}: `source {BIN_DIR}/activate`",
            "mesh is up; Ctrl-C to stop",
        )
        wait_forever()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        # A second Ctrl-C while the processes wind down must not leave the rest running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        mesh.stop()
        _say("mesh stopped")
    return 0
