"""Measure the mesh: throughput against the portal's budget, the legacy loop and a direct
crawler, shared pacing across connector replicas, a storm of 429s, gateway latency, the
memory of every process and a weekly resync's requests against its bound. Each benchmark
starts a mesh of its own on free ports.

Writes bench-results.json (every figure with its parameters) and BENCHMARKS.md into --out
(default: the current directory). --quick runs every benchmark at a CI-sized scale (a few
minutes); the full run takes about an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HELP = "benchmark the mesh (throughput vs the portal budget, legacy, overhead, gateway, memory)"
BENCHMARKS = ("bound", "comparison", "evidence", "storm", "gateway", "resync")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="CI-sized runs (a few minutes)")
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        help="run only this benchmark (repeatable); the results file then holds only these",
    )
    parser.add_argument(
        "--keep-others",
        action="store_true",
        help="with --only: keep the other benchmarks' records of the results file in --out "
        "(measured in an earlier run of the same mode, which the file then names)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("."), help="where to write the results (default: .)"
    )
    parser.add_argument(
        "--work-dir", type=Path, help="meshes' state and logs (default: a temporary folder)"
    )


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import tempfile
    import time
    import traceback

    from programs.bench import report
    from programs.bench.machine import describe_machine
    from programs.bench.suite import FULL, QUICK, Suite

    plan = QUICK if args.quick else FULL
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="gdtmesh-bench-"))
    command = "gdtmesh bench" + (" --quick" if args.quick else "")
    command += "".join(f" --only {name}" for name in args.only or ())
    command += " --keep-others" if args.keep_others else ""
    machine = describe_machine()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    began = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - began:7.1f}s] {text}", flush=True)

    suite = Suite(plan, work, log)
    measured, errors = earlier_records(args, plan.mode), {}
    for name in args.only or BENCHMARKS:
        log(f"{name}: starting (state and logs in {work / name})")
        try:
            measured[name] = getattr(suite, name)()
        except Exception as error:  # one broken benchmark must not lose the others' figures
            errors[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        log(f"{name}: {'done' if name in measured else 'FAILED'}")

    doc = report.results(
        measured,
        errors,
        mode=plan.mode,
        command=command,
        machine=machine,
        started_at=started_at,
        duration_s=time.monotonic() - began,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for path in report.write(doc, args.out):
        print(f"wrote {path}")
    if errors:
        print(
            f"gdtmesh bench: {len(errors)} benchmark(s) failed: {', '.join(errors)}",
            file=sys.stderr,
        )
    return 1 if errors else 0


def earlier_records(args: argparse.Namespace, mode: str) -> dict[str, dict[str, Any]]:
    """The records --keep-others keeps: the other benchmarks' of the same mode's results file."""
    import json

    if not args.keep_others or not args.only:
        return {}
    path = args.out / "bench-results.json"
    earlier = json.loads(path.read_text())
    if earlier["mode"] != mode:
        raise SystemExit(f"gdtmesh bench: {path} holds a {earlier['mode']} run, not a {mode} one")
    kept = {name: record for name, record in earlier["runs"].items() if name not in args.only}
    for record in kept.values():
        record.setdefault("measured_at", earlier["started_at"])
    return kept
