"""Configuration from environment variables, validated at start-up.

A process declares its settings as a frozen dataclass; `load(Settings, "GDTMESH_")` reads one
variable per field (`GDTMESH_<FIELD>`), converts it by the field's type, runs the class's own
checks (`__post_init__` raising ValueError) and reports every bad value at once, naming
the variable.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(raw: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):  # Optional[X]: empty means None
        inner = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        return None if raw == "" else _convert(raw, inner)
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        return tuple(_convert(part.strip(), inner) for part in raw.split(",") if part.strip())
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"expected a boolean (true/false), got {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if kind in (str, Secret):
        return kind(raw)
    raise TypeError(f"unsupported setting type {kind!r}")


def load(cls: type[T], prefix: str = "GDTMESH_", environ: Mapping[str, str] | None = None) -> T:
    """Build `cls` from the environment; raise ConfigError listing every bad variable."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = prefix + field.name.upper()
        if name not in env:
            has_default = field.default is not dataclasses.MISSING
            if not has_default and field.default_factory is dataclasses.MISSING:
                problems.append(f"{name}: required but not set")
            continue
        try:
            values[field.name] = _convert(env[name], hints[field.name])
        except ValueError as error:
            problems.append(f"{name}: {error}")
    if problems:
        raise ConfigError("bad configuration: " + "; ".join(problems))
    try:
        return cls(**values)
    except ValueError as error:
        raise ConfigError(f"bad configuration: {error}") from None


def check_listen_address(name: str, value: str) -> None:
    """Validate a `host:port` listen address (port 0 means any free port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{name} must be host:port, got {value!r}")


def check_target(name: str, value: str) -> None:
    """A `host:port` to connect to."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"{name} must be host:port, got {value!r}")
