"""Print a task's manifest: a row per flow and month with the import's counts, then every
invoice that failed with the reason it failed (GetManifest reads it from the bucket).

  gdtmesh manifest TASK_ID [--format table|csv|json] [--endpoints-file mesh.json]

`csv` prints the periods, then (after an empty line) the failed invoices, each with a header
row; `json` prints one object: `manifest_object`, `periods` and `failed`.
Exit code: 0 when printed, 2 for a bad setting, a task id without a manifest yet, or no gateway.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TextIO

from gdtmesh.gateway.v1 import gateway_pb2
from programs.commands.import_ import add_gateway_arguments, call_gateway
from programs.commands.watch import flow_name

HELP = "print a task's manifest: counts per flow and month, failed invoices and why"
PERIOD_COLUMNS = (
    "flow",
    "month",
    "portal_total",
    "discovered",
    "stored",
    "already_stored",
    "unchanged",
    "changed",
    "new_invoices",
    "without_original",
    "failed",
)
FAILURE_COLUMNS = ("flow", "month", "seller_tax_code", "form", "series", "number", "reason")
Row = dict[str, object]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", help="the task id StartTask returned")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    add_gateway_arguments(parser)


def run(args: argparse.Namespace) -> int:
    async def show(target: object) -> int:
        print_manifest(await fetch(target, args.task_id), args.format, sys.stdout)
        return 0

    return call_gateway("manifest", args, show)


async def fetch(target: object, task_id: str) -> gateway_pb2.GetManifestResponse:
    from programs.client import GatewayClient

    async with GatewayClient.to(target) as client:  # type: ignore[arg-type]
        return await client.get_manifest(task_id)


def print_manifest(reply: gateway_pb2.GetManifestResponse, form: str, out: TextIO) -> None:
    periods, failures = period_rows(reply), failure_rows(reply)
    if form == "json":
        document = {"manifest_object": reply.manifest_object, "periods": periods}
        json.dump({**document, "failed": failures}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif form == "csv":
        _csv(periods, PERIOD_COLUMNS, out)
        if failures:
            out.write("\n")
            _csv(failures, FAILURE_COLUMNS, out)
    else:
        print(f"manifest: {reply.manifest_object}", file=out)
        _table(periods, PERIOD_COLUMNS, out)
        if failures:
            print(f"\nfailed invoices ({len(failures)}):", file=out)
            _table(failures, FAILURE_COLUMNS, out)


def period_rows(reply: gateway_pb2.GetManifestResponse) -> list[Row]:
    return [
        {
            **_place(period),
            **{name: getattr(period.counts, name) for name in PERIOD_COLUMNS[2:]},
        }
        for period in reply.periods
    ]


def failure_rows(reply: gateway_pb2.GetManifestResponse) -> list[Row]:
    return [
        {
            **_place(period),
            "seller_tax_code": failure.key.seller_tax_code,
            "form": failure.key.form,
            "series": failure.key.series,
            "number": failure.key.number,
            "reason": failure.reason,
        }
        for period in reply.periods
        for failure in period.failed
    ]


def _place(period: gateway_pb2.ManifestPeriod) -> Row:
    return {
        "flow": flow_name(period.flow),
        "month": f"{period.month.year:04d}-{period.month.month:02d}",
    }


def _csv(rows: list[Row], columns: tuple[str, ...], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _table(rows: list[Row], columns: tuple[str, ...], out: TextIO) -> None:
    """Aligned columns: text to the left, numbers to the right."""
    cells = [list(columns), *([str(row[name]) for name in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    numeric = [bool(rows) and isinstance(rows[0][name], int) for name in columns]
    for line in cells:
        padded = (
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(line, widths, numeric, strict=True)
        )
        print("  " + "  ".join(padded).rstrip(), file=out)
