"""Follow one task until it ends: status, phase, a progress bar per flow and overall, any
backoff in force; then its result per flow (or why it failed).

  gdtmesh watch TASK_ID [--endpoints-file mesh.json]

Exit code: 0 when the task succeeded, 1 when it ended otherwise, 2 for a bad setting or task id.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from gdtmesh.gateway.v1 import gateway_pb2
from programs.commands.import_ import add_gateway_arguments, call_gateway
from programs.progress import Counts, import_details, month_table, progress_line, status_word

HELP = "follow one task (live progress per flow) until it ends"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", help="the task id StartTask returned")
    add_gateway_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        return call_gateway("watch", args, lambda target: watch(target, args.task_id, sys.stdout))
    except KeyboardInterrupt:
        return 130


async def watch(target: object, task_id: str, out: TextIO) -> int:
    from programs.client import GatewayClient

    view = TaskView(out)
    task = gateway_pb2.Task()
    async with GatewayClient.to(target) as client:  # type: ignore[arg-type]
        async for task in client.watch(task_id):
            view.draw(task)
    print_result(task, out)
    return 0 if task.status == gateway_pb2.TASK_STATUS_SUCCEEDED else 1


def flow_name(flow: int) -> str:
    from gdtmesh.flows import flow_info

    try:
        return flow_info(flow).code  # type: ignore[arg-type]
    except ValueError:
        return str(flow)


def task_lines(task: gateway_pb2.Task) -> list[str]:
    details = import_details(task)
    lines = [f"{task.task_id}"]
    total = Counts()
    for flow in details.flows:
        counts = Counts(
            flow.totals.discovered,
            flow.totals.stored,
            flow.totals.already_stored,
            flow.totals.failed,
        )
        total += counts
        lines.append(progress_line(f"  {flow_name(flow.flow)}", counts, ""))
    lines.append(progress_line("  overall", total, status_word(task)))
    if task.HasField("backoff"):
        backoff = task.backoff
        when = backoff.retry_time.ToDatetime().strftime("%H:%M:%S UTC")
        step = f"attempt {backoff.attempt} of {backoff.step}"
        lines.append(f"  waiting until {when} ({step}): {backoff.reason}")
    return lines


class TaskView:
    """The task's lines, redrawn in place on a terminal, printed on change otherwise."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._drawn = 0
        self._last: list[str] = []

    def draw(self, task: gateway_pb2.Task) -> None:
        lines = task_lines(task)
        if lines == self._last:
            return
        self._last = lines
        if self._tty and self._drawn:
            self._out.write(f"\x1b[{self._drawn}F")
        for line in lines:
            self._out.write(f"\x1b[2K{line}\n" if self._tty else f"{line}\n")
        self._out.flush()
        self._drawn = len(lines)


def print_result(task: gateway_pb2.Task, out: TextIO) -> None:
    status = gateway_pb2.TaskStatus.Name(task.status).removeprefix("TASK_STATUS_")
    print(f"\n{task.task_id}: {status}", file=out)
    if task.failure_message:
        print(f"  {task.failure_message}", file=out)
    details = import_details(task)
    for line in month_table(details, flow_name):
        print(line, file=out)
    if details.manifest_object:
        print(f"  manifest: {details.manifest_object}", file=out)
    out.flush()
