"""The benchmarks, each on a fresh mesh, and the plans (quick and full) they run at.

1. bound: imports against the portal's budget, time compared with the physical bound;
2. comparison (one mesh, one data set): the mesh, the direct crawler, the legacy loop;
3. evidence (issue 4): 4 connector replicas, 50 companies, limits below the demand;
4. storm: a minute of 100% 429s mid-import;
5. gateway: StartTask/GetTask latency at fixed rates;
6. resync: an import as the portal stood a week ago, then a resync now, against its bound.
Peak memory of every process is read at the end of the bound run (the largest one).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gdtmesh.vncalendar import VIETNAM
from programs.bench.direct import DirectCrawler
from programs.bench.gateway_load import GatewayLoad, RateResult
from programs.bench.legacy import LegacyCrawler
from programs.bench.runs import (
    Evidence,
    ImportRun,
    StatsSampler,
    active_companies,
    get_json,
    import_all,
    peak_rss_mb,
    post_json,
    reset_stats,
    running_mesh,
    sandbox_stats,
)
from programs.bench.scenario import Budget, Scenario, Workload
from programs.bench.workload import Needed, needed_requests, resync_needed
from programs.mesh.demo import sandbox_range
from programs.mesh.launcher import Mesh
from programs.mesh.verify import bucket_client

DIRECT_BUCKET = "gdtmesh-bench-direct"
# What the mesh plans with (GatewayClient's default request: 10 invoices in flight, the
# connector overlapping 4 downloads per batch); the direct crawler uses the same.
MAX_CONCURRENT_INVOICES = 10
FETCH_OVERLAP = 4


@dataclass(frozen=True)
class Plan:
    mode: str
    bound: Scenario
    comparison: Scenario
    legacy_companies: int  # the legacy loop crawls this many of the comparison's companies
    evidence: Scenario
    storm: Scenario
    storm_seconds: float
    gateway_rates: tuple[float, ...]
    gateway_seconds: float
    gateway_fixed_rate: float
    resync: Scenario


# Polite per account (a couple of requests a second, as crawlers of the real portal do) and
# a host budget well below what this machine can serve, so that the portal is the bottleneck.
PORTAL = Budget(account_rate=2, account_burst=3, global_rate=60, global_burst=30)
TIGHT = Budget(account_rate=2, account_burst=3, global_rate=40, global_burst=20)

FULL = Plan(
    mode="full",
    bound=Scenario(Workload(companies=200, invoices=200), PORTAL),
    comparison=Scenario(Workload(companies=100, invoices=50), PORTAL),
    legacy_companies=4,
    evidence=Scenario(Workload(companies=50, invoices=100), TIGHT, connector_replicas=4),
    storm=Scenario(Workload(companies=20, invoices=100), TIGHT),
    storm_seconds=60,
    gateway_rates=(5, 10, 20, 40, 80, 160),
    gateway_seconds=20,
    gateway_fixed_rate=20,
    resync=Scenario(Workload(companies=50, invoices=200), PORTAL),
)
QUICK_BUDGET = Budget(account_rate=2, account_burst=3, global_rate=30, global_burst=15)
QUICK = Plan(
    mode="quick",
    bound=Scenario(Workload(companies=20, invoices=20, months=2), QUICK_BUDGET),
    comparison=Scenario(Workload(companies=10, invoices=12, months=2), QUICK_BUDGET),
    legacy_companies=2,
    evidence=Scenario(Workload(companies=50, invoices=10, months=2), TIGHT, connector_replicas=4),
    storm=Scenario(Workload(companies=8, invoices=20, months=2), TIGHT, backoff_s=5),
    storm_seconds=15,
    gateway_rates=(10, 40, 80),
    gateway_seconds=8,
    gateway_fixed_rate=10,
    resync=Scenario(Workload(companies=10, invoices=100, months=2), QUICK_BUDGET),
)

Log = Callable[[str], None]
RESYNC_AFTER = dt.timedelta(days=7)  # the weekly resync the docs recommend


class Suite:
    def __init__(self, plan: Plan, work_dir: Path, log: Log) -> None:
        self.plan = plan
        self._work = work_dir
        self._log = log

    def _state(self, name: str) -> Path:
        path = self._work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- 1. throughput against the physical bound, and memory -----------------------------

    def bound(self) -> dict[str, Any]:
        scenario = self.plan.bound
        with running_mesh(scenario, self._state("bound")) as mesh:
            companies, needed = self._workload(mesh, scenario)
            self._log(f"bound: {len(companies)} companies, {needed.total} portal requests needed")
            run = asyncio.run(import_all(mesh, companies))
            stats = sandbox_stats(mesh.endpoints()["sandbox"])
            memory = peak_rss_mb(mesh)
        budget = scenario.budget
        bound_s = needed.bound_s(budget.global_rate, budget.account_rate)
        evidence = Evidence.of(stats)
        return {
            "parameters": scenario.describe(),
            "companies_imported": len(companies),
            "requests_needed": needed.total,
            "invoices": needed.invoices,
            "originals": needed.originals,
            "bound_s": round(bound_s, 1),
            "elapsed_s": round(run.elapsed_s, 1),
            "ratio": round(bound_s / run.elapsed_s, 3),
            "requests_made": evidence.served,
            **evidence.politeness(),
            "imports": _import_summary(run),
            "peak_rss_mb": memory,
        }

    def _workload(self, mesh: Mesh, scenario: Scenario) -> tuple[list[dict[str, Any]], Needed]:
        sandbox = mesh.endpoints()["sandbox"]
        companies = active_companies(sandbox)
        start, end = sandbox_range(sandbox)
        frozen = get_json(f"{sandbox}/_sandbox/config")["clock_frozen_at"]
        now = dt.datetime.fromisoformat(frozen)
        needed = needed_requests(scenario.workload, [c["mst"] for c in companies], start, end, now)
        return companies, needed

    # -- 2. the mesh, the direct crawler and the legacy loop on one data set ---------------

    def comparison(self) -> dict[str, Any]:
        scenario = self.plan.comparison
        with running_mesh(scenario, self._state("comparison")) as mesh:
            endpoints = mesh.endpoints()
            companies, needed = self._workload(mesh, scenario)
            start, end = sandbox_range(endpoints["sandbox"])
            self._log(f"comparison: mesh import of {len(companies)} companies")
            mesh_run = asyncio.run(import_all(mesh, companies))
            mesh_evidence = Evidence.of(sandbox_stats(endpoints["sandbox"]))

            self._log("comparison: direct crawler")
            _settle_budgets(scenario)
            reset_stats(endpoints["sandbox"])
            bucket_client(endpoints["gcs"]).create_bucket(DIRECT_BUCKET)
            direct = asyncio.run(self._direct(endpoints, companies, start, end))
            direct_evidence = Evidence.of(sandbox_stats(endpoints["sandbox"]))

            sample = companies[: self.plan.legacy_companies]
            self._log(f"comparison: legacy loop over {len(sample)} companies")
            _settle_budgets(scenario)
            reset_stats(endpoints["sandbox"])
            legacy = LegacyCrawler(
                endpoints["sandbox"] + "/api",
                self._state("legacy-out"),
                scenario.budget.account_rate,
                scenario.backoff_s,
            )
            try:
                for company in sample:
                    legacy.crawl(company["mst"], company["password"], start, end)
            finally:
                legacy.close()
            legacy_evidence = Evidence.of(sandbox_stats(endpoints["sandbox"]))

        sample_needed = sum(needed.per_company[c["mst"]] for c in sample)
        legacy_s = sum(legacy.tally.seconds.values())
        # Sequential: its time grows with the requests it must make, company after company.
        legacy_estimate_s = legacy_s * needed.total / sample_needed
        return {
            "parameters": scenario.describe(),
            "requests_needed": needed.total,
            "mesh": {
                "elapsed_s": round(mesh_run.elapsed_s, 1),
                "requests": mesh_evidence.served,
                "blocked_requests": mesh_evidence.during_backoff,
                "imports": _import_summary(mesh_run),
            },
            "direct": {
                "elapsed_s": round(direct.elapsed_s, 1),
                "requests": direct_evidence.served,
                "stored": direct.stored,
                "failed": direct.failed,
                "blocked_requests": direct_evidence.during_backoff,
            },
            "legacy": {
                "companies_crawled": len(sample),
                "elapsed_s": round(legacy_s, 1),
                "requests": legacy.tally.requests,
                "throttled": legacy.tally.throttled,
                "invoices": legacy.tally.invoices,
                "requests_needed_by_sample": sample_needed,
                "estimated_elapsed_s_all_companies": round(legacy_estimate_s, 1),
                "blocked_requests": legacy_evidence.during_backoff,
            },
            "overhead_ratio": round(mesh_run.elapsed_s / direct.elapsed_s, 3),
            "legacy_speedup": round(legacy_estimate_s / mesh_run.elapsed_s, 1),
        }

    async def _direct(
        self,
        endpoints: dict[str, str],
        companies: list[dict[str, Any]],
        start: dt.date,
        end: dt.date,
    ) -> Any:
        crawler = DirectCrawler(endpoints, DIRECT_BUCKET, MAX_CONCURRENT_INVOICES, FETCH_OVERLAP)
        try:
            return await crawler.crawl_all(companies, start, end)
        finally:
            await crawler.close()

    # -- 3. issue 4's evidence: replicas share one budget ----------------------------------

    def evidence(self) -> dict[str, Any]:
        scenario = self.plan.evidence
        with running_mesh(scenario, self._state("evidence")) as mesh:
            sandbox = mesh.endpoints()["sandbox"]
            companies, needed = self._workload(mesh, scenario)
            self._log(
                f"evidence: {scenario.connector_replicas} connector replicas, "
                f"{len(companies)} companies, {needed.total} requests needed"
            )
            run, sampler = asyncio.run(_import_sampled(mesh, companies))
            evidence = Evidence.of(sandbox_stats(sandbox))
        budget = scenario.budget
        achieved = evidence.served / run.elapsed_s
        demand = len(companies) * budget.account_rate
        return {
            "parameters": scenario.describe(),
            "demand_per_s": demand,
            "global_budget_per_s": budget.global_rate,
            "requests": evidence.served,
            **evidence.politeness(),
            "elapsed_s": round(run.elapsed_s, 1),
            "achieved_rate_per_s": round(achieved, 2),
            "achieved_ratio": round(achieved / budget.global_rate, 3),
            "steady_rate_per_s": round(sampler.steady_rate(), 2),
            "steady_ratio": round(sampler.steady_rate() / budget.global_rate, 3),
            "imports": _import_summary(run),
        }

    # -- 4. a storm of 429s mid-import -----------------------------------------------------

    def storm(self) -> dict[str, Any]:
        scenario = self.plan.storm
        seconds = self.plan.storm_seconds
        with running_mesh(scenario, self._state("storm")) as mesh:
            sandbox = mesh.endpoints()["sandbox"]
            companies, needed = self._workload(mesh, scenario)
            self._log(f"storm: {seconds:.0f} s of 429s once a third of the work is done")
            run, sampler, storm_at = asyncio.run(
                _import_with_storm(mesh, companies, needed.total // 3, seconds)
            )
            evidence = Evidence.of(sandbox_stats(sandbox))
        resumed = _resumed_after(sampler, storm_at + seconds)
        return {
            "parameters": scenario.describe() | {"storm_seconds": seconds},
            "requests_needed": needed.total,
            "requests": evidence.served,
            **evidence.politeness(),
            "elapsed_s": round(run.elapsed_s, 1),
            "resumed_s_after_storm": None if resumed is None else round(resumed, 1),
            "imports": _import_summary(run),
        }

    # -- 5. the gateway ---------------------------------------------------------------------

    def gateway(self) -> dict[str, Any]:
        plan = self.plan
        scenario = Scenario(Workload(companies=3, invoices=10, months=1), PORTAL)
        with running_mesh(scenario, self._state("gateway")) as mesh:
            results = asyncio.run(self._gateway_rates(mesh))
        fixed = next(r for r in results if r.rate == plan.gateway_fixed_rate)
        shedding = next((r.rate for r in results if r.shed), None)
        saturated = next((r.rate for r in results if r.saturated()), None)
        return {
            "parameters": {
                "rates_per_s": list(plan.gateway_rates),
                "seconds_per_rate": plan.gateway_seconds,
                "fixed_rate_per_s": plan.gateway_fixed_rate,
                "mix": "half StartTask (new import each), half GetTask",
            },
            "fixed_rate": fixed.summary(),
            "rates": [r.summary() for r in results],
            "shedding_from_rate": shedding,
            "saturated_from_rate": saturated,
            "highest_rate_tried": results[-1].rate,
        }

    async def _gateway_rates(self, mesh: Mesh) -> list[RateResult]:
        endpoints = mesh.endpoints()
        start, end = sandbox_range(endpoints["sandbox"])
        load = GatewayLoad(endpoints["gateway"], endpoints["api_key"], start, end)
        results = []
        try:
            for rate in self.plan.gateway_rates:
                result = await load.run(rate, self.plan.gateway_seconds)
                self._log(f"gateway: {rate}/s -> {result.summary()}")
                results.append(result)
                if result.shed:
                    break  # found where shedding starts; more load says nothing new
        finally:
            await load.close()
        return results

    # -- 6. a week later: the resync spends requests only on what changed ---------------------

    def resync(self) -> dict[str, Any]:
        scenario = self.plan.resync
        with running_mesh(scenario, self._state("resync")) as mesh:
            sandbox = mesh.endpoints()["sandbox"]
            companies = active_companies(sandbox)
            start, end = sandbox_range(sandbox)
            # The clock at the end of the data set's last day, where a week brings late
            # invoices and replacements (the bench's clock is frozen at the real time).
            now = dt.datetime.combine(
                scenario.workload.today + dt.timedelta(days=1), dt.time(), VIETNAM
            )
            week = RESYNC_AFTER.total_seconds()
            self._log(f"resync: {len(companies)} companies imported as the portal stood a week ago")
            clock = {"clock_frozen_at": now.isoformat(), "time_offset_s": -week}
            post_json(f"{sandbox}/_sandbox/config", clock)
            first = asyncio.run(import_all(mesh, companies))
            first_requests = Evidence.of(sandbox_stats(sandbox)).served
            post_json(f"{sandbox}/_sandbox/config", {"time_offset_s": 0})  # a week passes
            _settle_budgets(scenario)
            reset_stats(sandbox)
            self._log("resync: the same companies again, a week later")
            again = asyncio.run(import_all(mesh, companies, rerun=True))
            stats = sandbox_stats(sandbox)
        msts = [c["mst"] for c in companies]
        # The week passes on the sandbox's clock in seconds: the import's session is still valid,
        # so the bound has no login (a real week later both would add one per company).
        since = now - RESYNC_AFTER
        needed = resync_needed(scenario.workload, msts, start, end, since, now, login_requests=0)
        evidence = Evidence.of(stats)
        requests = evidence.served
        return {
            "parameters": scenario.describe() | {"resync_after_days": RESYNC_AFTER.days},
            "import_requests": first_requests,
            "new_invoices": needed.new,
            "changed_invoices": needed.changed,
            "resync_requests": requests,
            "resync_bound": needed.total,
            "resync_bound_ratio": round(needed.total / requests, 3),
            "single_query_bound": needed.single_query_total,
            "single_query_bound_ratio": round(needed.single_query_total / requests, 3),
            "requests_by_endpoint": _requests_by_endpoint(stats),
            "counted_by_the_mesh": again.totals(("new_invoices", "changed", "unchanged")),
            **evidence.politeness(),
            "import": _import_summary(first),
            "imports": _import_summary(again),
        }


def _requests_by_endpoint(stats: dict[str, Any]) -> dict[str, int]:
    return {path: sum(answers.values()) for path, answers in sorted(stats["requests"].items())}


def _settle_budgets(scenario: Scenario) -> None:
    """Let the sandbox's buckets refill between two crawls of the same accounts."""
    budget = scenario.budget
    time.sleep(max(budget.account_burst / budget.account_rate, 1.0) + 1.0)


async def _import_sampled(
    mesh: Mesh, companies: list[dict[str, Any]]
) -> tuple[ImportRun, StatsSampler]:
    sampler = StatsSampler(mesh.endpoints()["sandbox"])
    sampling = asyncio.create_task(sampler.run())
    try:
        run = await import_all(mesh, companies)
    finally:
        sampling.cancel()
    return run, sampler


async def _import_with_storm(
    mesh: Mesh, companies: list[dict[str, Any]], after_requests: int, seconds: float
) -> tuple[ImportRun, StatsSampler, float]:
    sandbox = mesh.endpoints()["sandbox"]
    sampler = StatsSampler(sandbox)
    sampling = asyncio.create_task(sampler.run())
    imports = asyncio.create_task(import_all(mesh, companies))
    try:
        while not sampler.samples or sampler.samples[-1][1] < after_requests:
            if imports.done():
                raise RuntimeError("the imports finished before the storm")
            await asyncio.sleep(0.5)
        storm_at = time.monotonic()
        await asyncio.to_thread(post_json, f"{sandbox}/_sandbox/config", {"storm_seconds": seconds})
        run = await imports
    finally:
        sampling.cancel()
    return run, sampler, storm_at


def _resumed_after(sampler: StatsSampler, storm_end: float) -> float | None:
    """Seconds from the storm's end until the portal served requests again."""
    after = [(t, n) for t, n in sampler.samples if t >= storm_end]
    if not after:
        return None
    first = after[0][1]
    return next((t - storm_end for t, n in after if n > first), None)


def _import_summary(run: ImportRun) -> dict[str, Any]:
    """How the imports ended; `complete` only when every invoice the portal listed is stored:
    a fast run that gave up on invoices proves nothing about throughput."""
    totals = run.totals()
    complete = (
        not run.failed
        and totals["failed"] == 0
        and totals["stored"] + totals["already_stored"] == totals["portal_total"]
    )
    return {
        "imports": len(run.tasks),
        "imports_failed": len(run.failed),
        "failures": dict(list(run.failed.items())[:5]),
        "invoices_listed": totals["portal_total"],
        "invoices_found": totals["discovered"],
        "invoices_stored": totals["stored"] + totals["already_stored"],
        "invoices_failed": totals["failed"],
        "complete": complete,
    }
