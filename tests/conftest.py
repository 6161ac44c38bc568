"""Shared fixtures: the real third-party servers, started once per test session on free
loopback ports and stopped afterwards; the portal and connector fixtures of tests/support."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from programs.mesh import servers
from services.gateway.visibility import SEARCH_ATTRIBUTE_FLAGS

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

pytest.register_assert_rewrite("tests.support")  # before the plugin imports it
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.ManagedProcess]:
    process = servers.start_redis()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[servers.ManagedProcess]:
    process = servers.start_fake_gcs()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.ManagedProcess]:
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    process = servers.start_temporal(db_path=db, search_attributes=SEARCH_ATTRIBUTE_FLAGS)
    yield process
    process.stop()


def shared_samples(*parts: str) -> Path:
    """A path under ../shared/gdt-samples; skips the test where that folder is absent."""
    path = SHARED.joinpath("gdt-samples", *parts)
    if not path.exists():
        pytest.skip(f"real portal samples not found at {path} (a clone without ../shared)")
    return path
