"""Import many companies through the gateway, from the file operators already keep.

  gdtmesh import --companies companies.json [--endpoints-file mesh.json]

companies.json is a JSON list with one object per company:

  [{"company_id": "0101234560", "company_name": "CONG TY ...", "username": "0101234560",
    "password": "...", "date_range_start": "2025-01-01", "date_range_end": "2025-03-31",
    "flows": ["ban_ra_dien_tu", "mua_vao_dien_tu"], "gcs_bucket": "my-invoices"}]

`flows` (portal flow codes) is optional and defaults to the two electronic flows; `gcs_bucket`
is optional (the deployment's default bucket). Every import starts in StartTasks batches; the
command then follows them with a progress bar per company and one overall, and ends with a
summary table. Ctrl-C stops following, not the imports (`gdtmesh watch TASK_ID` follows one).

The gateway and API key come from --gateway/--api-key, else GDTMESH_GATEWAY/GDTMESH_API_KEY,
else the endpoints file (`gdtmesh up --endpoints-file`; ./mesh.json when present).
Exit code: 0 when every import succeeded, 1 otherwise, 2 for a bad file or setting.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gdtmesh.flows import flow_by_code
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from programs.progress import ProgressView, Tracked, all_succeeded, print_started, print_summary

if TYPE_CHECKING:
    from programs.client import GatewayClient, GatewayTarget

HELP = "import the companies of a companies.json through the gateway, with live progress"
DEFAULT_FLOWS = ("ban_ra_dien_tu", "mua_vao_dien_tu")
_REQUIRED = ("company_id", "password", "date_range_start", "date_range_end")
_TEXT = ("company_id", "company_name", "username", "password", "gcs_bucket")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--companies", type=Path, required=True, help="the companies JSON file")
    add_gateway_arguments(parser)
    parser.add_argument(
        "--max-concurrent-invoices",
        type=int,
        default=0,
        help="invoices of one company in flight at once (default: the gateway's, 10)",
    )
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="run imports that already succeeded again (downloading only what is new or changed)",
    )
    parser.add_argument(
        "--download-all",
        action="store_true",
        help="download every invoice again, even those the bucket holds unchanged (re-verifies "
        "the bucket against the portal at two portal requests per invoice)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="start the imports, print their ids and exit"
    )


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoints-file", type=Path, help="JSON written by `gdtmesh up`")
    parser.add_argument("--gateway", help="host:port of the gateway (default 127.0.0.1:50051)")
    parser.add_argument("--api-key", help="the tenant's API key")


def call_gateway(
    command: str,
    args: argparse.Namespace,
    work: Callable[[GatewayTarget], Coroutine[Any, Any, int]],
) -> int:
    """`work`'s exit code against the gateway the arguments name; a bad setting or a refused
    call is one line on stderr and exit code 2."""
    import grpc

    from programs.client import GatewayTarget

    try:
        target = GatewayTarget.resolve(args.gateway, args.api_key, args.endpoints_file)
        return asyncio.run(work(target))
    except ValueError as error:
        print(f"gdtmesh {command}: {error}", file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as error:
        print(f"gdtmesh {command}: {error.code().name}: {error.details()}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    from programs.client import GatewayTarget

    try:
        companies = load_companies(args.companies)
        target = GatewayTarget.resolve(args.gateway, args.api_key, args.endpoints_file)
    except ValueError as error:
        print(f"gdtmesh import: {error}", file=sys.stderr)
        return 2
    try:
        tracked = asyncio.run(
            import_all(
                companies,
                target,
                sys.stdout,
                max_concurrent_invoices=args.max_concurrent_invoices,
                rerun=args.rerun,
                download_all=args.download_all,
                wait=not args.no_wait,
            )
        )
    except KeyboardInterrupt:
        print("\nstopped following; the imports go on (follow one: gdtmesh watch TASK_ID)")
        return 130
    if args.no_wait:
        return 0 if all(not item.refused for item in tracked) else 1
    return 0 if all_succeeded(tracked) else 1


# -- the companies file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    company_id: str
    company_name: str
    username: str
    password: str = field(repr=False)
    start: dt.date
    end: dt.date
    flows: tuple[Flow.ValueType, ...]
    bucket: str


def load_companies(path: Path) -> list[Company]:
    """The file's companies; ValueError naming the entry and field of the first problems
    (never showing a password)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path} must hold a non-empty JSON list of companies")
    companies, problems = [], []
    for index, entry in enumerate(entries):
        try:
            companies.append(_company(entry))
        except ValueError as error:
            name = entry.get("company_id") if isinstance(entry, dict) else None
            label = f"entry {index}" + (f" ({name})" if isinstance(name, str) and name else "")
            problems.append(f"{label}: {error}")
    if problems:
        shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
        raise ValueError(f"{path}: {len(problems)} bad entries: {shown}")
    return companies


def _company(entry: Any) -> Company:
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in _REQUIRED if not entry.get(name)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for name in _TEXT:
        if name in entry and not isinstance(entry[name], str):
            raise ValueError(f"{name} must be a string")
    start, end = _day(entry, "date_range_start"), _day(entry, "date_range_end")
    if end < start:
        raise ValueError("date_range_end is before date_range_start")
    return Company(
        company_id=entry["company_id"].strip(),
        company_name=entry.get("company_name", "").strip(),
        username=entry.get("username", "").strip(),
        password=entry["password"],
        start=start,
        end=end,
        flows=_flows(entry.get("flows", list(DEFAULT_FLOWS))),
        bucket=entry.get("gcs_bucket", "").strip(),
    )


def _day(entry: dict[str, Any], name: str) -> dt.date:
    value = entry[name]
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a YYYY-MM-DD date, got {value!r}")


def _flows(value: Any) -> tuple[Flow.ValueType, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("flows must be a non-empty list of flow codes, e.g. ban_ra_dien_tu")
    try:
        return tuple(flow_by_code(code).flow for code in value)
    except ValueError as error:
        raise ValueError(f"flows: {error}") from None


# -- starting and following --------------------------------------------------------------------


async def import_all(
    companies: Sequence[Company],
    target: GatewayTarget,
    out: TextIO,
    *,
    max_concurrent_invoices: int = 0,
    rerun: bool = False,
    download_all: bool = False,
    wait: bool = True,
) -> list[Tracked]:
    """Start every company's import (StartTasks batches); unless `wait` is off, follow them
    with the progress view to the summary table. One Tracked per company, in order."""
    from programs.client import GatewayClient, import_request

    tracked = [Tracked(c.company_id, c.company_name) for c in companies]
    requests = [
        import_request(
            c.company_id,
            c.password,
            c.start,
            c.end,
            c.flows,
            username=c.username,
            bucket=c.bucket,
            max_concurrent_invoices=max_concurrent_invoices,
            rerun=rerun,
            download_all=download_all,
        )
        for c in companies
    ]
    async with GatewayClient.to(target) as client:
        print(f"starting {len(requests)} imports at {target.address}", file=out, flush=True)
        for item, result in zip(tracked, await client.start_tasks(requests), strict=True):
            if result.status.code:
                item.refused = result.status.message
            else:
                item.task_id, item.task = result.task.task_id, result.task
        if not wait:
            print_started(tracked, out)
            return tracked
        view = ProgressView(tracked, out)
        view.draw()
        await asyncio.gather(*(_follow(client, item, view) for item in tracked if item.task_id))
        view.draw(final=True)
    print_summary(tracked, out)
    return tracked


async def _follow(client: GatewayClient, item: Tracked, view: ProgressView) -> None:
    async for task in client.watch(item.task_id):
        item.task = task
        view.changed(item)
