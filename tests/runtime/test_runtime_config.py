from __future__ import annotations

from dataclasses import dataclass

import pytest

from gdtmesh.runtime.config import ConfigError, Secret, check_listen_address, load


@dataclass(frozen=True)
class Example:
    listen: str = "127.0.0.1:0"
    workers: int = 4
    ratio: float = 0.5
    verbose: bool = False
    tags: tuple[str, ...] = ()
    password: Secret = Secret("")
    bucket: str | None = None

    def __post_init__(self) -> None:
        check_listen_address("GDTMESH_LISTEN", self.listen)
        if self.workers < 1:
            raise ValueError("GDTMESH_WORKERS must be at least 1")


def test_defaults_and_conversions() -> None:
    env = {
        "GDTMESH_WORKERS": "8",
        "GDTMESH_RATIO": "0.25",
        "GDTMESH_VERBOSE": "yes",
        "GDTMESH_TAGS": "a, b,,c",
        "GDTMESH_PASSWORD": "hunter2",
        "GDTMESH_BUCKET": "",
    }
    config = load(Example, environ=env)
    assert (config.workers, config.ratio, config.verbose) == (8, 0.25, True)
    assert config.tags == ("a", "b", "c")
    assert config.bucket is None
    assert config.password.reveal() == "hunter2"
    assert "hunter2" not in repr(config)


def test_every_bad_value_is_named_at_once() -> None:
    env = {"GDTMESH_WORKERS": "many", "GDTMESH_VERBOSE": "perhaps"}
    with pytest.raises(ConfigError) as raised:
        load(Example, environ=env)
    assert "GDTMESH_WORKERS: expected an integer, got 'many'" in str(raised.value)
    assert "GDTMESH_VERBOSE" in str(raised.value)


def test_class_checks_become_config_errors() -> None:
    with pytest.raises(ConfigError, match="GDTMESH_LISTEN must be host:port"):
        load(Example, environ={"GDTMESH_LISTEN": "nowhere"})
    with pytest.raises(ConfigError, match="at least 1"):
        load(Example, environ={"GDTMESH_WORKERS": "0"})


def test_required_field_missing() -> None:
    @dataclass(frozen=True)
    class Needs:
        redis_url: str

    with pytest.raises(ConfigError, match="GDTMESH_REDIS_URL: required but not set"):
        load(Needs, environ={})
