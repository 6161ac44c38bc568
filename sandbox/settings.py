"""Settings of the sandbox portal: the dataset to serve and the run-time knobs (limits, faults),
and the process's flags (`python -m sandbox --help`, the same as `gdtmesh sandbox --help`).

`PortalConfig` is immutable; the admin API and the flags change it with `apply_patch`, which
takes the same JSON shape `to_dict` gives and rejects a bad value with a message naming the field.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from gdtmesh.runtime import config as runtime_config
from sandbox.model import DatasetSpec

# Endpoint classes: latency and faults are set per class.
ENDPOINT_CLASSES = ("captcha", "login", "profile", "list", "sco-list", "detail", "xml")
FAULT_KINDS = ("error_5xx", "hang", "html_block", "cut_body")
# Rate limits per account and endpoint class (gdt-portal.md, "Added 2026-12": list calls answered
# 200 while detail calls drew 429s): each limit class and the endpoint classes it covers.
LIMIT_CLASSES = ("list", "detail", "export")
LIMIT_CLASS_OF = {"list": "list", "sco-list": "list", "detail": "detail", "xml": "export"}
# Where crawlers' recordings of the real portal disagree (gdt-portal.md, "Added 2026-12"): the
# values each switch can take, the first the default.
BLOCK_PAGES = ("request-rejected", "cant-display")
THROTTLE_ANSWERS = ("429", "503", "message")
LOGIN_TOKEN_KEYS = ("token", "access_token", "Token")
CAPTCHA_FORMATS = ("svg", "png")


class ConfigError(runtime_config.ConfigError):
    """A configuration value is invalid; the message names the field. At start-up it is the
    process bootstrap's bad configuration (one line, exit code 2)."""


@dataclass(frozen=True)
class Latency:
    """Server time of one endpoint class: lognormal with this median and 99th percentile."""

    median_ms: float
    p99_ms: float

    def to_dict(self) -> dict[str, float]:
        return {"median_ms": self.median_ms, "p99_ms": self.p99_ms}


# Roughly what the real portal shows (gdt-portal.md, "Latencies seen").
DEFAULT_LATENCY: dict[str, Latency] = {
    "captcha": Latency(150, 700),
    "login": Latency(55, 80),
    "profile": Latency(30, 80),
    "list": Latency(50, 100),
    "sco-list": Latency(150, 2000),
    "detail": Latency(30, 80),
    "xml": Latency(60, 200),
}


@dataclass(frozen=True)
class Limit:
    """A token bucket per account for one endpoint class; `rate` None = no limit of its own."""

    rate: float | None = None
    burst: float = 2.0

    def to_dict(self) -> dict[str, float | None]:
        return {"rate": self.rate, "burst": self.burst}


# What a crawler's log of the real portal shows (one account, XML downloads, April 2026): ~1.7
# requests/s sustained with 3 in flight drew no 429, so a class refills at 2/s at least (the
# smallest round rate it allows); 3 parallel downloads at the start drew 429s within a second, so
# a class's bucket holds fewer than 3: 2. Lists answered 200 meanwhile: their budget is their own
# and no recording shows its size. The default burst is this one; the default rates are none
# (like the generous account default): tests and the embedded mesh load the sandbox far beyond
# the real portal. `--endpoint-limit detail=2 --endpoint-limit export=2` gives the recording.
RECORDED_ENDPOINT_LIMITS: dict[str, Limit] = {
    "detail": Limit(2.0, 2.0),
    "export": Limit(2.0, 2.0),
}


def _no_endpoint_limits() -> dict[str, Limit]:
    return {name: Limit() for name in LIMIT_CLASSES}


def _no_faults() -> dict[str, dict[str, float]]:
    return {kind: dict.fromkeys(ENDPOINT_CLASSES, 0.0) for kind in FAULT_KINDS}


@dataclass(frozen=True)
class PortalConfig:
    """Behaviour switches, limits and faults; every field can change at run time."""

    token_lifetime_s: float = 24 * 3600
    captcha_ttl_s: float = 300
    # Older portal: a wrong captcha gives 200 with a message and no token instead of 401.
    captcha_error_legacy: bool = False
    reject_multi_sort: bool = True
    purchase_requires_ttxly: bool = False
    max_page_size: int = 50
    # Token buckets; None = unlimited. Generous by default.
    rate_per_account: float | None = 50.0
    burst_per_account: float = 100.0
    rate_global: float | None = 5000.0
    burst_global: float = 10000.0
    # Per account and endpoint class (list, detail, export), on top of the account's bucket.
    endpoint_limits: Mapping[str, Limit] = field(default_factory=_no_endpoint_limits)
    retry_after: bool = False
    # After a 429 without Retry-After a polite client waits at least this long.
    min_backoff_s: float = 15.0
    latency_scale: float = 1.0
    latency: Mapping[str, Latency] = field(default_factory=lambda: dict(DEFAULT_LATENCY))
    # kind -> endpoint class -> probability per request.
    faults: Mapping[str, Mapping[str, float]] = field(default_factory=_no_faults)
    # A hung request gives up by itself after this long (the client normally gives up first).
    hang_max_s: float = 600.0
    # Shifts the sandbox clock that decides which (late) invoices are visible.
    time_offset_s: float = 0.0
    # When set (ISO 8601 instant), that clock stands still there: no invoice appears while a
    # test or the demo compares the bucket with the truth. The real portal's never does.
    clock_frozen_at: str | None = None
    # The portal as different crawlers recorded it.
    request_id_required: bool = True  # False: requests without `request-id` pass the firewall
    sco_errors_request_id: bool = True  # False: sco-query error envelopes have no requestId
    block_page: str = BLOCK_PAGES[0]  # which HTML block page the html_block fault serves
    throttle_answer: str = THROTTLE_ANSWERS[0]  # 429, a JSON 503, or a 200 saying so
    login_token_key: str = LOGIN_TOKEN_KEYS[0]  # the login answer's key for the JWT
    login_token_bearer: bool = False  # the login answer's JWT already starts with "Bearer "
    captcha_format: str = CAPTCHA_FORMATS[0]  # svg, or a base64 PNG data URI
    # This share of invoices has its export-xml under the other family (query <-> sco-query);
    # their own family's export-xml answers 500 "Không tồn tại hóa đơn."
    misfiled_xml_rate: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["latency"] = {name: value.to_dict() for name, value in self.latency.items()}
        data["endpoint_limits"] = {
            name: value.to_dict() for name, value in self.endpoint_limits.items()
        }
        data["faults"] = {kind: dict(rates) for kind, rates in self.faults.items()}
        return data

    def fault_rate(self, kind: str, endpoint_class: str) -> float:
        return self.faults[kind][endpoint_class]


def apply_patch(config: PortalConfig, patch: Any) -> PortalConfig:
    """A copy of `config` with the fields of `patch` (partial `to_dict` shape) changed."""
    if not isinstance(patch, dict):
        raise ConfigError("config must be a JSON object")
    changes: dict[str, Any] = {}
    for name, value in patch.items():
        parser = _FIELD_PARSERS.get(name)
        if parser is None:
            raise ConfigError(
                f"{name}: unknown setting (known: {', '.join(sorted(_FIELD_PARSERS))})"
            )
        changes[name] = parser(name, value, config)
    updated = dataclasses.replace(config, **changes)
    if updated.rate_per_account is not None and updated.burst_per_account < 1:
        raise ConfigError("burst_per_account: must be at least 1")
    if updated.rate_global is not None and updated.burst_global < 1:
        raise ConfigError("burst_global: must be at least 1")
    return updated


def _number(name: str, value: Any, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name}: must be a number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name}: must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _positive(name: str, value: Any, _config: PortalConfig) -> float:
    number = _number(name, value)
    if number <= 0:
        raise ConfigError(f"{name}: must be greater than 0, got {value!r}")
    return number


def _non_negative(name: str, value: Any, _config: PortalConfig) -> float:
    return _number(name, value)


def _any_number(name: str, value: Any, _config: PortalConfig) -> float:
    return _number(name, value, -math.inf)


def _optional_rate(name: str, value: Any, config: PortalConfig) -> float | None:
    return None if value is None else _positive(name, value, config)


def _instant(name: str, value: Any, _config: PortalConfig) -> str | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{name}: must be an ISO 8601 instant or null, got {value!r}") from None
    if instant.tzinfo is None:
        raise ConfigError(f"{name}: must carry a time zone, e.g. 2026-11-25T03:00:00+00:00")
    return instant.isoformat()


def _flag(name: str, value: Any, _config: PortalConfig) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: must be true or false, got {value!r}")
    return value


def _one_of(values: tuple[str, ...]) -> Callable[[str, Any, PortalConfig], str]:
    def parse(name: str, value: Any, _config: PortalConfig) -> str:
        if value not in values:
            raise ConfigError(f"{name}: must be one of {', '.join(values)}, got {value!r}")
        return str(value)

    return parse


def _probability(name: str, value: Any, _config: PortalConfig) -> float:
    return _number(name, value, 0.0, 1.0)


def _page_size(name: str, value: Any, _config: PortalConfig) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}: must be a positive integer, got {value!r}")
    return value


def _latency(name: str, value: Any, config: PortalConfig) -> dict[str, Latency]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be an object of endpoint class -> latency")
    merged = dict(config.latency)
    for endpoint_class, spec in value.items():
        where = f"{name}.{endpoint_class}"
        _check_class(where, endpoint_class)
        if not isinstance(spec, dict) or set(spec) - {"median_ms", "p99_ms"}:
            raise ConfigError(f"{where}: must be an object with median_ms and/or p99_ms")
        current = merged[endpoint_class]
        median = _number(f"{where}.median_ms", spec.get("median_ms", current.median_ms))
        p99 = _number(f"{where}.p99_ms", spec.get("p99_ms", current.p99_ms))
        if p99 < median:
            raise ConfigError(f"{where}: p99_ms ({p99:g}) must not be below median_ms ({median:g})")
        merged[endpoint_class] = Latency(median, p99)
    return merged


def _endpoint_limits(name: str, value: Any, config: PortalConfig) -> dict[str, Limit]:
    """`{"detail": {"rate": 2, "burst": 2}}` sets one class (partially); `rate` null = none."""
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be an object of limit class -> {{rate, burst}}")
    merged = dict(config.endpoint_limits)
    for limit_class, spec in value.items():
        where = f"{name}.{limit_class}"
        if limit_class not in LIMIT_CLASSES:
            known = ", ".join(LIMIT_CLASSES)
            raise ConfigError(f"{where}: unknown limit class (known: {known})")
        if not isinstance(spec, dict) or set(spec) - {"rate", "burst"}:
            raise ConfigError(f"{where}: must be an object with rate and/or burst")
        current = merged[limit_class]
        rate = _optional_rate(f"{where}.rate", spec.get("rate", current.rate), config)
        burst = _number(f"{where}.burst", spec.get("burst", current.burst))
        if rate is not None and burst < 1:
            raise ConfigError(f"{where}.burst: must be at least 1")
        merged[limit_class] = Limit(rate, burst)
    return merged


def _faults(name: str, value: Any, config: PortalConfig) -> dict[str, dict[str, float]]:
    """`{"hang": 0.1}` sets every class; `{"hang": {"sco-list": 0.1}}` sets one."""
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be an object of fault kind -> probability")
    merged = {kind: dict(rates) for kind, rates in config.faults.items()}
    for kind, rates in value.items():
        if kind not in FAULT_KINDS:
            raise ConfigError(f"{name}.{kind}: unknown fault (known: {', '.join(FAULT_KINDS)})")
        if isinstance(rates, dict):
            for endpoint_class, rate in rates.items():
                where = f"{name}.{kind}.{endpoint_class}"
                _check_class(where, endpoint_class)
                merged[kind][endpoint_class] = _number(where, rate, 0.0, 1.0)
        else:
            rate = _number(f"{name}.{kind}", rates, 0.0, 1.0)
            merged[kind] = dict.fromkeys(ENDPOINT_CLASSES, rate)
    return merged


def _check_class(where: str, endpoint_class: str) -> None:
    if endpoint_class not in ENDPOINT_CLASSES:
        known = ", ".join(ENDPOINT_CLASSES)
        raise ConfigError(f"{where}: unknown endpoint class (known: {known})")


_FIELD_PARSERS = {
    "token_lifetime_s": _positive,
    "captcha_ttl_s": _positive,
    "captcha_error_legacy": _flag,
    "reject_multi_sort": _flag,
    "purchase_requires_ttxly": _flag,
    "max_page_size": _page_size,
    "rate_per_account": _optional_rate,
    "burst_per_account": _non_negative,
    "rate_global": _optional_rate,
    "burst_global": _non_negative,
    "endpoint_limits": _endpoint_limits,
    "retry_after": _flag,
    "min_backoff_s": _non_negative,
    "latency_scale": _non_negative,
    "latency": _latency,
    "faults": _faults,
    "hang_max_s": _positive,
    "time_offset_s": _any_number,
    "clock_frozen_at": _instant,
    "request_id_required": _flag,
    "sco_errors_request_id": _flag,
    "block_page": _one_of(BLOCK_PAGES),
    "throttle_answer": _one_of(THROTTLE_ANSWERS),
    "login_token_key": _one_of(LOGIN_TOKEN_KEYS),
    "login_token_bearer": _flag,
    "captcha_format": _one_of(CAPTCHA_FORMATS),
    "misfiled_xml_rate": _probability,
}


@dataclass(frozen=True)
class SandboxSettings:
    """Everything `create_app` needs: the dataset, the initial knobs and the signing secret."""

    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    config: PortalConfig = field(default_factory=PortalConfig)
    # Signs JWTs and paging states; random per process unless fixed (e.g. for several replicas).
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(64), repr=False)
    # Seeds captchas, latencies and fault draws.
    seed: int = 20251


@dataclass(frozen=True)
class SandboxConfig:
    """The sandbox process: what it serves and where (`python -m sandbox`'s flags)."""

    settings: SandboxSettings = field(default_factory=SandboxSettings)
    host: str = "127.0.0.1"
    port: int = 8480
    legacy_port: int | None = None  # also serve here (the real portal's :30000 base)
    storm_seconds: float = 0.0  # answer everything 429 this long from the start


DESCRIPTION = """\
Run the sandbox GDT portal: a faithful, fault-injecting stand-in for hoadondientu.gdt.gov.vn.

It serves generated companies and invoices under both bases, `/api/<path>` and the legacy
`/<path>` (also on --legacy-port if given), with captchas, JWT logins, month-limited lists with
`state` paging, detail and XML export, rate limits and optional faults.

The start-up banner prints the demo companies with their passwords (username = tax code); the
full list is at GET /_sandbox/companies. Also: /_sandbox/truth?company=MST&flow=FLOW&month=YYYY-MM
(the invoice keys the portal lists), /_sandbox/stats (requests, 429s, rate-limit violations),
GET/POST /_sandbox/config (every knob below, at run time), POST /_sandbox/revoke and /_sandbox/lock.
"""


def flags_parser(prog: str = "python -m sandbox") -> argparse.ArgumentParser:
    """`python -m sandbox`'s parser; `gdtmesh sandbox` puts the same flags on its own."""
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_flags(parser)
    return parser


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The process's flags; `config_from_flags` turns them into its `SandboxConfig`."""
    serve = parser.add_argument_group("serving")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument("--port", type=int, default=8480, help="port (default %(default)s)")
    serve.add_argument("--legacy-port", type=int, help="also serve on this port (the :30000 base)")

    data = parser.add_argument_group("data set")
    data.add_argument("--seed", type=int, default=20251, help="data set seed (default %(default)s)")
    data.add_argument(
        "--companies", type=_at_least(0), default=3, help="companies (default %(default)s)"
    )
    data.add_argument(
        "--invoices",
        type=_at_least(0),
        default=400,
        help="invoices per company (default %(default)s)",
    )
    data.add_argument(
        "--months", type=_at_least(1), default=3, help="calendar months (default %(default)s)"
    )
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

    variants = parser.add_argument_group("the portal as different crawlers recorded it")
    for flag, text in (
        ("--request-id-optional", "requests without a request-id header pass the firewall"),
        ("--sco-errors-without-request-id", "sco-query error envelopes carry no requestId"),
        ("--login-token-bearer", 'the login answer\'s token starts with "Bearer "'),
    ):
        variants.add_argument(flag, action="store_true", help=text)
    for flag, choices, text in (
        ("--block-page", BLOCK_PAGES, "the HTML block page"),
        ("--throttle-answer", THROTTLE_ANSWERS, "a refusal for rate: 429, JSON 503, 200 message"),
        ("--login-token-key", LOGIN_TOKEN_KEYS, "the login answer's key for the token"),
        ("--captcha-format", CAPTCHA_FORMATS, "svg, or a base64 PNG data URI"),
    ):
        variants.add_argument(flag, choices=choices, help=f"{text} ({choices[0]})")
    variants.add_argument(
        "--misfiled-xml-rate",
        type=float,
        metavar="P",
        help="share of invoices whose export-xml is under the other family (0)",
    )

    limits = parser.add_argument_group("limits (rates in requests/s; 0 = unlimited)")
    limits.add_argument("--rate-per-account", type=float, metavar="R", help="default 50")
    limits.add_argument("--burst-per-account", type=float, metavar="N", help="default 100")
    limits.add_argument("--rate-global", type=float, metavar="R", help="default 5000")
    limits.add_argument("--burst-global", type=float, metavar="N", help="default 10000")
    limits.add_argument(
        "--endpoint-limit",
        action="append",
        type=_endpoint_limit,
        metavar="CLASS=R[:N]",
        help=f"per account and endpoint class ({', '.join(LIMIT_CLASSES)}): rate R (0 = none) and "
        "burst N (2); repeat per class",
    )
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


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def _endpoint_limit(text: str) -> tuple[str, dict[str, float | None]]:
    """`detail=2` or `detail=2:3` -> ("detail", {"rate": 2.0, "burst": 3.0})."""
    limit_class, _, numbers = text.partition("=")
    rate, _, burst = numbers.partition(":")
    if limit_class not in LIMIT_CLASSES:
        known = ", ".join(LIMIT_CLASSES)
        raise argparse.ArgumentTypeError(
            f"expected CLASS=RATE[:BURST] with CLASS one of {known}, got {text!r}"
        )
    try:
        spec: dict[str, float | None] = {"rate": float(rate) or None}
        if burst:
            spec["burst"] = float(burst)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CLASS=RATE[:BURST], got {text!r}") from None
    return limit_class, spec


def config_from_flags(args: argparse.Namespace) -> SandboxConfig:
    """The process's config from its parsed flags; ConfigError names a bad value."""
    spec = DatasetSpec(
        seed=args.seed,
        companies=args.companies,
        invoices_per_company=args.invoices,
        months=args.months,
        today=args.today,
        demo=not args.random_companies,
    )
    try:
        config = apply_patch(PortalConfig(), _patch_from_flags(args))
        if args.config:
            config = apply_patch(config, _load_json(args.config))
    except (ValueError, OSError) as error:  # ConfigError is a ValueError too
        raise ConfigError(f"bad configuration: {error}") from None
    return SandboxConfig(
        SandboxSettings(dataset=spec, config=config, seed=args.seed),
        host=args.host,
        port=args.port,
        legacy_port=args.legacy_port,
        storm_seconds=args.storm or 0.0,
    )


def _patch_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    direct = {
        "token_lifetime": "token_lifetime_s",
        "captcha_ttl": "captcha_ttl_s",
        "burst_per_account": "burst_per_account",
        "burst_global": "burst_global",
        "min_backoff": "min_backoff_s",
        "latency_scale": "latency_scale",
        "block_page": "block_page",
        "throttle_answer": "throttle_answer",
        "login_token_key": "login_token_key",
        "captcha_format": "captcha_format",
        "misfiled_xml_rate": "misfiled_xml_rate",
    }
    for flag, name in direct.items():
        if getattr(args, flag) is not None:
            patch[name] = getattr(args, flag)
    for flag in ("rate_per_account", "rate_global"):
        if getattr(args, flag) is not None:
            patch[flag] = getattr(args, flag) or None  # 0 = unlimited
    if args.endpoint_limit:
        patch["endpoint_limits"] = dict(args.endpoint_limit)
    switches = {
        "legacy_captcha_error": ("captcha_error_legacy", True),
        "allow_multi_sort": ("reject_multi_sort", False),
        "purchase_requires_ttxly": ("purchase_requires_ttxly", True),
        "retry_after": ("retry_after", True),
        "request_id_optional": ("request_id_required", False),
        "login_token_bearer": ("login_token_bearer", True),
        "sco_errors_without_request_id": ("sco_errors_request_id", False),
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
