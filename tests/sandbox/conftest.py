"""Fixtures for the sandbox portal: the portals, clients and companies of tests/support (a real
server on a free loopback port per test, and a client that drives it as the real portal's
crawlers do: captcha -> login -> lists -> detail -> XML) over the sandbox's own data set."""

from __future__ import annotations

import pytest

from gdtmesh.vncalendar import vietnam_today
from sandbox.dataset import DatasetSpec
from tests.support.portal import SANDBOX_SPEC


@pytest.fixture
def portal_spec() -> DatasetSpec:
    return SANDBOX_SPEC


@pytest.fixture
def months(portal_spec: DatasetSpec) -> list[tuple[int, int]]:
    """The calendar months the test data set covers, most recent first."""
    today = portal_spec.today or vietnam_today()
    result = []
    year, month = today.year, today.month
    for _ in range(portal_spec.months):
        result.append((year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return result
