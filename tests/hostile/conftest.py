"""Hostile input tests: the portal and connector fixtures (a sandbox portal, Redis, in-process
connectors and a tampering proxy) come from tests/support; the gateway is started in-process
against the real Temporal dev server (`gateway_fixtures.py`)."""

from __future__ import annotations

from tests.hostile.gateway_fixtures import hostile_gateway  # noqa: F401  (a fixture, by name)
