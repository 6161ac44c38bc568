"""Run the sandbox GDT portal: a faithful, fault-injecting stand-in for hoadondientu.gdt.gov.vn.

It serves generated companies and invoices under both bases, `/api/<path>` and the legacy
`/<path>` (also on --legacy-port if given), with captchas, JWT logins, month-limited lists with
`state` paging, detail and XML export, rate limits and optional faults.

The start-up banner prints the demo companies with their passwords (username = tax code); the
full list is at GET /_sandbox/companies. Also: /_sandbox/truth?company=MST&flow=FLOW&month=YYYY-MM
(the invoice keys the portal lists), /_sandbox/stats (requests, 429s, rate-limit violations),
GET/POST /_sandbox/config (every knob below, at run time), POST /_sandbox/revoke and /_sandbox/lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.app import RunningSandbox
    from sandbox.dataset import Dataset
    from sandbox.settings import SandboxSettings

HELP = "run the sandbox GDT portal (demo companies, invoices, captchas, limits, faults)"
BANNER_COMPANIES = 20


def configure(parser: argparse.ArgumentParser) -> None:
    serve = parser.add_argument_group("serving")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=int, default=8480, help="port (default %(default)s)")
    serve.add_argument("--legacy-port", type=int, help="also serve on this port (the :30000 base)")

    data = parser.add_argument_group("data set")
    data.add_argument("--seed", type=int, default=20251, help="data set seed (default %(default)s)")
    data.add_argument("--companies", type=int, default=3, help="companies (default %(default)s)")
    data.add_argument(
        "--invoices", type=int, default=400, help="invoices per company (default %(default)s)"
    )
    data.add_argument("--months", type=int, default=3, help="calendar months (default %(default)s)")
    data.add_argument("--today", type=date.fromisoformat, help="YYYY-MM-DD (default: today, VN)")
    data.add_argument(
        "--random-companies",
        action="store_true",
        help="generated companies instead of the demo ones",
    )

    behaviour = parser.add_argument_group("portal behaviour")
    behaviour.add_argument("--token-lifetime", type=float, metavar="S", help="JWT lifetime (86400)")
    behaviour.add_argument("--captcha-ttl", type=float, metavar="S", help="captcha expiry (300)")
    behaviour.add_argument(
        "--legacy-captcha-error", action="store_true", help="wrong captcha: 200 without token"
    )
    behaviour.add_argument(
        "--allow-multi-sort", action="store_true", help="accept sorts on several fields"
    )
    behaviour.add_argument(
        "--purchase-requires-ttxly",
        action="store_true",
        help="purchase lists without ttxly== answer 500",
    )

    limits = parser.add_argument_group("limits (rates in requests/s; 0 = unlimited)")
    limits.add_argument("--rate-per-account", type=float, metavar="R", help="default 50")
    limits.add_argument("--burst-per-account", type=float, metavar="N", help="default 100")
    limits.add_argument("--rate-global", type=float, metavar="R", help="default 5000")
    limits.add_argument("--burst-global", type=float, metavar="N", help="default 10000")
    limits.add_argument("--retry-after", action="store_true", help="send Retry-After on 429")
    limits.add_argument(
        "--min-backoff",
        type=float,
        metavar="S",
        help="backoff a 429 demands without Retry-After (15)",
    )
    limits.add_argument("--storm", type=float, metavar="S", help="answer everything 429 for S s")

    data.add_argument(
        "--freeze-clock",
        action="store_true",
        help="stop the clock that decides which invoices are visible at start-up, so the truth "
        "cannot change under a running comparison (the demo and the end-to-end tests use it)",
    )

    faults = parser.add_argument_group("faults (probabilities per request, every endpoint)")
    faults.add_argument("--latency-scale", type=float, metavar="X", help="0 = no latency (1)")
    faults.add_argument("--error-rate", type=float, metavar="P", help="5xx answers")
    faults.add_argument("--hang-rate", type=float, metavar="P", help="requests never answered")
    faults.add_argument("--html-block-rate", type=float, metavar="P", help="200 HTML block pages")
    faults.add_argument("--cut-rate", type=float, metavar="P", help="bodies cut mid-way")
    faults.add_argument(
        "--config",
        metavar="JSON",
        help="any /_sandbox/config settings, inline JSON or @file (applied last), e.g. "
        '\'{"faults": {"hang": {"sco-list": 0.05}}}\'',
    )


def run(args: argparse.Namespace) -> int:
    from sandbox.dataset import Dataset
    from sandbox.settings import ConfigError

    try:
        settings = build_settings(args)
        dataset = Dataset(settings.dataset)
    except (ConfigError, OSError, ValueError) as error:  # ConfigError is a ValueError too
        print(f"gdtmesh sandbox: {error}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(settings, dataset, args))


def build_settings(args: argparse.Namespace) -> SandboxSettings:
    from sandbox.dataset import DatasetSpec
    from sandbox.settings import PortalConfig, SandboxSettings, apply_patch

    spec = DatasetSpec(
        seed=args.seed,
        companies=args.companies,
        invoices_per_company=args.invoices,
        months=args.months,
        today=args.today,
        demo=not args.random_companies,
    )
    config = apply_patch(PortalConfig(), _patch_from_flags(args))
    if args.config:
        config = apply_patch(config, _load_json(args.config))
    return SandboxSettings(dataset=spec, config=config, seed=args.seed)


def _patch_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    direct = {
        "token_lifetime": "token_lifetime_s",
        "captcha_ttl": "captcha_ttl_s",
        "burst_per_account": "burst_per_account",
        "burst_global": "burst_global",
        "min_backoff": "min_backoff_s",
        "latency_scale": "latency_scale",
    }
    for flag, name in direct.items():
        if getattr(args, flag) is not None:
            patch[name] = getattr(args, flag)
    for flag in ("rate_per_account", "rate_global"):
        if getattr(args, flag) is not None:
            patch[flag] = getattr(args, flag) or None  # 0 = unlimited
    switches = {
        "legacy_captcha_error": ("captcha_error_legacy", True),
        "allow_multi_sort": ("reject_multi_sort", False),
        "purchase_requires_ttxly": ("purchase_requires_ttxly", True),
        "retry_after": ("retry_after", True),
    }
    for flag, (name, value) in switches.items():
        if getattr(args, flag):
            patch[name] = value
    if args.freeze_clock:
        patch["clock_frozen_at"] = datetime.now(UTC).isoformat()
    fault_flags = {
        "error_rate": "error_5xx",
        "hang_rate": "hang",
        "html_block_rate": "html_block",
        "cut_rate": "cut_body",
    }
    faults = {kind: getattr(args, flag) for flag, kind in fault_flags.items()}
    if any(rate is not None for rate in faults.values()):
        patch["faults"] = {kind: rate for kind, rate in faults.items() if rate is not None}
    return patch


def _load_json(text: str) -> Any:
    source = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        return json.loads(source)
    except json.JSONDecodeError as error:
        raise ValueError(f"--config is not valid JSON: {error}") from None


async def _serve(settings: SandboxSettings, dataset: Dataset, args: argparse.Namespace) -> int:
    from sandbox.app import start_sandbox

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        sandbox = await start_sandbox(
            settings, args.host, args.port, legacy_port=args.legacy_port, dataset=dataset
        )
    except OSError as error:
        print(f"gdtmesh sandbox: cannot listen: {error}", file=sys.stderr)
        return 1
    if args.storm:
        sandbox.portal.limiter.start_storm(args.storm, time.monotonic())
    print(banner(sandbox), flush=True)
    try:
        await stop.wait()
    finally:
        print("gdtmesh sandbox: shutting down", flush=True)
        await sandbox.aclose()
    return 0


def banner(sandbox: RunningSandbox) -> str:
    state = sandbox.portal
    companies = list(state.dataset.companies())
    lines = [f"GDT sandbox portal: {sandbox.api_url}  (legacy base: {sandbox.url}/)"]
    if sandbox.legacy_url:
        lines.append(f"legacy port: {sandbox.legacy_url}/")
    lines.append(f"{len(companies)} companies (username = tax code):")
    for company in companies[:BANNER_COMPANIES]:
        flags = "  [locked]" if state.is_locked(company.mst) else ""
        lines.append(f"  {company.mst:<16} {company.password:<14} {company.name}{flags}")
    if len(companies) > BANNER_COMPANIES:
        lines.append(f"  ... {len(companies) - BANNER_COMPANIES} more")
    admin = f"{sandbox.url}/_sandbox"
    lines += [
        f"all companies and passwords: GET {admin}/companies",
        f"ground truth: GET {admin}/truth?company=MST&flow=FLOW&month=YYYY-MM",
        f"evidence: GET {admin}/stats   knobs: GET/POST {admin}/config",
        "Ctrl-C to stop",
    ]
    return "\n".join(lines)
