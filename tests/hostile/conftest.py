"""Hostile input tests: the connector's fixtures (a sandbox portal, Redis, in-process connectors
and a tampering proxy) are reused from tests/gdt_connector; the gateway is started in-process
against the real Temporal dev server (`gateway_fixtures.py`)."""

from __future__ import annotations

from tests.gdt_connector.conftest import (  # noqa: F401  (fixtures, by name)
    company,
    portal,
    proxy,
    redis,
    start_connector,
    start_portal,
)
from tests.hostile.gateway_fixtures import hostile_gateway  # noqa: F401
