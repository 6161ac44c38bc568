"""What a benchmark runs against: a sandbox data set and a portal budget.

The sandbox enforces the budget (a 429 and a recorded violation for every request beyond it) and
the connector is configured with the same rates. The connector's bursts are one request smaller
than the sandbox's: GCRA and token bucket agree exactly only on one clock, and a request that
reaches the portal a few milliseconds early must still find a token there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

SEED = 20251
# A fixed "today", so that every run (and the in-process bound computation) sees one data set.
TODAY = dt.date(2025, 9, 30)


@dataclass(frozen=True)
class Workload:
    """C generated companies with I invoices each (over all four flows), in M months."""

    companies: int
    invoices: int
    months: int = 3
    seed: int = SEED
    today: dt.date = TODAY

    def sandbox_args(self) -> list[str]:
        return [
            "--random-companies",
            "--companies",
            str(self.companies),
            "--invoices",
            str(self.invoices),
            "--months",
            str(self.months),
            "--seed",
            str(self.seed),
            "--today",
            self.today.isoformat(),
        ]


@dataclass(frozen=True)
class Budget:
    """Requests per second (and bursts) per portal account and for the whole portal. The
    connector sends the host's share smoothly; the host burst is the sandbox's tolerance."""

    account_rate: float
    account_burst: int
    global_rate: float
    global_burst: int

    def sandbox_args(self) -> list[str]:
        return [
            "--rate-per-account",
            str(self.account_rate),
            "--burst-per-account",
            str(self.account_burst + 1),
            "--rate-global",
            str(self.global_rate),
            "--burst-global",
            str(self.global_burst + 1),
        ]

    def connector_env(self) -> dict[str, str]:
        return {
            "GDTMESH_PORTAL_ACCOUNT_RATE": str(self.account_rate),
            "GDTMESH_PORTAL_ACCOUNT_BURST": str(self.account_burst),
            "GDTMESH_PORTAL_GLOBAL_RATE": str(self.global_rate),
        }


# The sandbox's own defaults are generous; "unlimited" for runs the budget must not shape.
UNLIMITED = Budget(account_rate=1000, account_burst=1000, global_rate=10000, global_burst=10000)


@dataclass(frozen=True)
class Scenario:
    workload: Workload
    budget: Budget
    latency_scale: float = 1.0  # 1 = the real portal's latencies (gdt-portal.md)
    backoff_s: float = 15.0  # what the sandbox demands after a 429, and the connector's first
    connector_replicas: int = 1
    sandbox_extra: tuple[str, ...] = ()
    env_extra: dict[str, str] = field(default_factory=dict)

    def sandbox_args(self) -> list[str]:
        return [
            *self.workload.sandbox_args(),
            *self.budget.sandbox_args(),
            "--latency-scale",
            str(self.latency_scale),
            "--min-backoff",
            str(self.backoff_s),
            *self.sandbox_extra,
        ]

    def mesh_env(self) -> dict[str, str]:
        return {
            **self.budget.connector_env(),
            "GDTMESH_PORTAL_BACKOFF_INITIAL_SECONDS": str(self.backoff_s),
            "GDTMESH_LOG_LEVEL": "WARNING",  # a benchmark's logs should not cost CPU
            **self.env_extra,
        }

    def describe(self) -> dict[str, Any]:
        """The parameters, as the results file records them."""
        return {
            "companies": self.workload.companies,
            "invoices_per_company": self.workload.invoices,
            "months": self.workload.months,
            "seed": self.workload.seed,
            "today": self.workload.today.isoformat(),
            "budget": asdict(self.budget),
            "latency_scale": self.latency_scale,
            "backoff_s": self.backoff_s,
            "connector_replicas": self.connector_replicas,
        }
