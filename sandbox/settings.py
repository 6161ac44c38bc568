"""Settings of the sandbox portal: the dataset to serve and the run-time knobs (limits, faults).

`PortalConfig` is immutable; the admin API and the CLI change it with `apply_patch`, which takes
the same JSON shape `to_dict` gives and rejects a bad value with a message naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.dataset import DatasetSpec

# Endpoint classes: latency and faults are set per class.
ENDPOINT_CLASSES = ("captcha", "login", "profile", "list", "sco-list", "detail", "xml")
FAULT_KINDS = ("error_5xx", "hang", "html_block", "cut_body")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field."""


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

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["latency"] = {name: value.to_dict() for name, value in self.latency.items()}
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
    "retry_after": _flag,
    "min_backoff_s": _non_negative,
    "latency_scale": _non_negative,
    "latency": _latency,
    "faults": _faults,
    "hang_max_s": _positive,
    "time_offset_s": _any_number,
    "clock_frozen_at": _instant,
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
