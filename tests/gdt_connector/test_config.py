"""The connector's settings from the environment."""

from __future__ import annotations

import base64

import pytest

from gdtmesh.runtime.config import ConfigError, load
from services.gdt_connector.config import ConnectorConfig, decode_secret_key
from services.gdt_connector.sealing import Sealer, SealError

KEY = base64.b64encode(b"k" * 32).decode()


def test_defaults_are_the_real_portal_and_polite() -> None:
    config = load(ConnectorConfig, environ={})
    assert config.gdt_connector_listen == "127.0.0.1:50061"
    assert config.portal_root == "https://hoadondientu.gdt.gov.vn/api"
    assert config.portal_account_rate == 1.0
    assert config.portal_backoff_initial_seconds == 15.0


def test_environment_names() -> None:
    config = load(
        ConnectorConfig,
        environ={
            "GDTMESH_GDT_CONNECTOR_LISTEN": "0.0.0.0:7000",
            "GDTMESH_PORTAL_BASE_URL": "http://127.0.0.1:8480/",
            "GDTMESH_PORTAL_PATH_PREFIX": "",
            "GDTMESH_REDIS_URL": "redis://cache:6379/2",
            "GDTMESH_GDT_CONNECTOR_SECRET_KEY": KEY,
            "GDTMESH_PORTAL_ACCOUNT_RATE": "0.5",
            "GDTMESH_PORTAL_GLOBAL_RATE": "10",
            "GDTMESH_PORTAL_ACCOUNT_BURST": "2",
        },
    )
    assert config.portal_root == "http://127.0.0.1:8480"
    assert config.portal_host == "127.0.0.1:8480"
    assert config.redis_url == "redis://cache:6379/2"
    assert decode_secret_key(config.gdt_connector_secret_key) == b"k" * 32
    assert KEY not in repr(config)
    assert (config.portal_account_rate, config.portal_global_rate) == (0.5, 10.0)


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("GDTMESH_GDT_CONNECTOR_LISTEN", "nowhere", "GDTMESH_GDT_CONNECTOR_LISTEN"),
        ("GDTMESH_PORTAL_BASE_URL", "ftp://portal", "GDTMESH_PORTAL_BASE_URL"),
        ("GDTMESH_PORTAL_BASE_URL", "https://portal/api", "GDTMESH_PORTAL_PATH_PREFIX"),
        ("GDTMESH_PORTAL_PATH_PREFIX", "api", "GDTMESH_PORTAL_PATH_PREFIX"),
        ("GDTMESH_PORTAL_PATH_PREFIX", "/api/", "GDTMESH_PORTAL_PATH_PREFIX"),
        ("GDTMESH_REDIS_URL", "http://cache", "GDTMESH_REDIS_URL"),
        ("GDTMESH_GDT_CONNECTOR_SECRET_KEY", "not base64!", "base64"),
        ("GDTMESH_GDT_CONNECTOR_SECRET_KEY", base64.b64encode(b"short").decode(), "16, 24 or 32"),
        ("GDTMESH_PORTAL_ACCOUNT_RATE", "0", "GDTMESH_PORTAL_ACCOUNT_RATE"),
        ("GDTMESH_PORTAL_ACCOUNT_RATE", "fast", "GDTMESH_PORTAL_ACCOUNT_RATE"),
        ("GDTMESH_PORTAL_MAX_WAIT_SECONDS", "-1", "GDTMESH_PORTAL_MAX_WAIT_SECONDS"),
        ("GDTMESH_PORTAL_BACKOFF_MAX_SECONDS", "1", "GDTMESH_PORTAL_BACKOFF_MAX_SECONDS"),
        ("GDTMESH_GDT_CONNECTOR_FETCH_CONCURRENCY", "0", "GDTMESH_GDT_CONNECTOR_FETCH_CONCURRENCY"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load(ConnectorConfig, environ={variable: value})


def test_a_bad_redis_url_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigError, match="GDTMESH_REDIS_URL") as refused:
        load(ConnectorConfig, environ={"GDTMESH_REDIS_URL": "http://:s3cret-pw@cache:6379/0"})
    assert "s3cret-pw" not in str(refused.value)


def test_sealed_values_open_only_with_their_key_and_place() -> None:
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal("Demo@2025", "session:a")
    assert b"Demo@2025" not in sealed
    assert sealer.open(sealed, "session:a") == "Demo@2025"
    with pytest.raises(SealError):
        sealer.open(sealed, "session:b")
    with pytest.raises(SealError):
        Sealer(b"x" * 32).open(sealed, "session:a")
    assert (
        sealer.fingerprint("p", "a") == sealer.fingerprint("p", "a") != sealer.fingerprint("q", "a")
    )
