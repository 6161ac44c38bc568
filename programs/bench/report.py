"""bench-results.json (every figure with the parameters it was measured at) and BENCHMARKS.md
(the same for people), both written by the bench itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BOUND_GOAL = 0.85
RESYNC_GOAL = 0.95  # a resync's lower bound over its requests


def results(
    measured: dict[str, dict[str, Any]],
    errors: dict[str, str],
    *,
    mode: str,
    command: str,
    machine: dict[str, Any],
    started_at: str,
    duration_s: float,
) -> dict[str, Any]:
    """The results file: the headline keys first, then each benchmark's full record."""
    doc: dict[str, Any] = {
        "generated_by": command,
        "mode": mode,
        "started_at": started_at,
        "duration_s": round(duration_s, 1),
        "machine": machine,
    }
    bound, comparison = measured.get("bound"), measured.get("comparison")
    evidence, storm, gateway = (
        measured.get("evidence"),
        measured.get("storm"),
        measured.get("gateway"),
    )
    if bound:
        doc["bound_ratio"] = {
            "value": bound["ratio"],
            "goal": BOUND_GOAL,
            "parameters": bound["parameters"],
            "bound_s": bound["bound_s"],
            "elapsed_s": bound["elapsed_s"],
            "requests_needed": bound["requests_needed"],
            "complete": bound["imports"]["complete"],
        }
        doc["peak_rss_mb"] = {"value": bound["peak_rss_mb"], "parameters": bound["parameters"]}
    if comparison:
        complete = comparison["mesh"]["imports"]["complete"] and not comparison["direct"]["failed"]
        for key in ("legacy_speedup", "overhead_ratio"):
            doc[key] = {
                "value": comparison[key],
                "parameters": comparison["parameters"],
                "complete": complete,
            }
    if gateway:
        fixed = gateway["fixed_rate"]
        for key, field in (("gateway_p50_ms", "p50_ms"), ("gateway_p99_ms", "p99_ms")):
            doc[key] = {
                "value": fixed[field],
                "parameters": gateway["parameters"] | {"rate_per_s": fixed["rate_per_s"]},
            }
        doc["gateway_shedding"] = {"value": _shedding_text(gateway), **gateway}
    blocked = {
        name: run["blocked_requests"]
        for name, run in (
            ("bound", bound),
            ("evidence", evidence),
            ("storm", storm),
            ("resync", measured.get("resync")),
        )
        if run
    }
    if comparison:
        for crawler in ("mesh", "direct", "legacy"):
            blocked[f"comparison.{crawler}"] = comparison[crawler]["blocked_requests"]
    if blocked:
        doc["blocked_requests"] = {
            "value": sum(blocked.values()),
            "parameters": "requests the sandbox received for an account inside its 429 "
            "backoff window, summed over the runs below",
            "by_run": blocked,
        }
    if evidence:
        doc["portal_evidence"] = evidence
    if resync := measured.get("resync"):
        doc["resync_bound_ratio"] = {
            "value": resync["resync_bound_ratio"],
            "goal": RESYNC_GOAL,
            "parameters": resync["parameters"],
            "resync_requests": resync["resync_requests"],
            "resync_bound": resync["resync_bound"],
            "import_requests": resync["import_requests"],
            "complete": resync["imports"]["complete"],
        }
    for name, record in measured.items():
        doc.setdefault("runs", {})[name] = record
    if errors:
        doc["errors"] = errors
    return doc


def write(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    json_path = out_dir / "bench-results.json"
    md_path = out_dir / "BENCHMARKS.md"
    json_path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(doc))
    return json_path, md_path


def _shedding_text(gateway: dict[str, Any]) -> str:
    if gateway["shedding_from_rate"] is not None:
        return f"sheds from {gateway['shedding_from_rate']} req/s"
    return f"not shedding up to {gateway['highest_rate_tried']} req/s"


# ---- BENCHMARKS.md ---------------------------------------------------------------------------


def markdown(doc: dict[str, Any]) -> str:
    runs = doc.get("runs", {})
    parts = [_header(doc)]
    for name, render in (
        ("bound", _bound),
        ("comparison", _comparison),
        ("evidence", _evidence),
        ("storm", _storm),
        ("gateway", _gateway),
        ("resync", _resync),
    ):
        if name in runs:
            parts.append(render(runs[name]))
    if doc.get("errors"):
        lines = ["## Benchmarks that failed", ""]
        lines += [f"- **{name}**: {text}" for name, text in doc["errors"].items()]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _header(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Generated by `{doc['generated_by']}` ({doc['mode']} mode) on {doc['started_at']}; "
            f"the whole run took {doc['duration_s'] / 60:.1f} minutes. Every figure with its "
            "parameters is in `bench-results.json`; run the same command to reproduce.",
            "",
            f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['ram_gb']} GB RAM, "
            f"Python {m['python']}, {m['platform']}; load average at start "
            f"{', '.join(map(str, m['load_average_at_start']))}. Every process of the mesh "
            "(Temporal dev server, Redis, fake-gcs-server, the sandbox portal, storage, "
            "connector, gateway, worker) and the benchmark itself share these cores.",
            "",
            _table(_headlines(doc), ("figure", "value")),
            "",
            SETTINGS,
        ]
    )


SETTINGS = """## Settings

Everything else is the mesh's defaults (`make run`'s). Budgets are set on both sides: the
sandbox enforces them (its host burst below is its tolerance), the connector is configured
with the same rates, an account burst one smaller, and sends the host's share smoothly (see
`programs/bench/scenario.py`)."""


def _headlines(doc: dict[str, Any]) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    if "bound_ratio" in doc:
        ratio = f"{doc['bound_ratio']['value']} (goal >= {BOUND_GOAL})"
        rows.append(
            ("bound_ratio (physical bound / achieved time)", _flagged(doc, "bound_ratio", ratio))
        )
    if "legacy_speedup" in doc:
        speedup = f"{doc['legacy_speedup']['value']}x"
        rows.append(
            ("legacy_speedup (legacy loop / mesh)", _flagged(doc, "legacy_speedup", speedup))
        )
    if "overhead_ratio" in doc:
        overhead = str(doc["overhead_ratio"]["value"])
        rows.append(
            ("overhead_ratio (mesh / direct crawler)", _flagged(doc, "overhead_ratio", overhead))
        )
    if "gateway_p50_ms" in doc:
        rate = doc["gateway_p50_ms"]["parameters"]["rate_per_s"]
        rows.append((f"gateway_p50_ms at {rate} req/s", _per_rpc(doc["gateway_p50_ms"]["value"])))
        rows.append((f"gateway_p99_ms at {rate} req/s", _per_rpc(doc["gateway_p99_ms"]["value"])))
        rows.append(("gateway load shedding", doc["gateway_shedding"]["value"]))
    if "resync_bound_ratio" in doc:
        ratio = f"{doc['resync_bound_ratio']['value']} (goal >= {RESYNC_GOAL})"
        rows.append(
            ("resync_bound_ratio (bound / requests)", _flagged(doc, "resync_bound_ratio", ratio))
        )
    if "blocked_requests" in doc:
        rows.append(("blocked_requests (all runs)", doc["blocked_requests"]["value"]))
    if "peak_rss_mb" in doc:
        peaks = doc["peak_rss_mb"]["value"]
        largest = max(peaks, key=peaks.get, default="-")
        rows.append(("peak_rss_mb (largest)", f"{peaks.get(largest, 0)} ({largest})"))
    return rows


def _flagged(doc: dict[str, Any], key: str, text: str) -> str:
    return text if doc[key]["complete"] else f"{text} **INCOMPLETE run: invoices failed**"


def _table(rows: list[tuple[str, object]], head: tuple[str, str] = ("", "")) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows])


def _per_rpc(values: dict[str, float]) -> str:
    return ", ".join(f"{rpc} {value} ms" for rpc, value in sorted(values.items()))


def _workload(p: dict[str, Any]) -> str:
    b = p["budget"]
    return (
        f"{p['companies']} companies x {p['invoices_per_company']} invoices over "
        f"{p['months']} months (seed {p['seed']}, today {p['today']}); portal budget "
        f"{b['global_rate']} req/s for the host (burst {b['global_burst']}) and "
        f"{b['account_rate']} req/s per account (burst {b['account_burst']}); sandbox "
        f"latency scale {p['latency_scale']}; first 429 backoff {p['backoff_s']} s; "
        f"{p['connector_replicas']} connector replica(s)"
    )


def _imports(i: dict[str, Any]) -> str:
    text = (
        f"{i['imports']} imports ({i['imports_failed']} failed); {i['invoices_listed']} invoices "
        f"listed, {i['invoices_stored']} stored, {i['invoices_failed']} failed"
    )
    return text if i["complete"] else f"**INCOMPLETE**: {text}"


def _bound(r: dict[str, Any]) -> str:
    peaks = _table(sorted(r["peak_rss_mb"].items()), ("process", "peak RSS (MiB)"))
    rows: list[tuple[str, object]] = [
        ("requests needed / made", f"{r['requests_needed']} / {r['requests_made']}"),
        ("invoices (with original)", f"{r['invoices']} ({r['originals']})"),
        ("bound", f"{r['bound_s']} s"),
        ("achieved (first StartTask to last import closed)", f"{r['elapsed_s']} s"),
        ("**bound_ratio**", f"**{r['ratio']}** (goal >= {BOUND_GOAL})"),
        ("429s", r["throttled"]),
        ("requests from blocked accounts", r["blocked_requests"]),
        ("requests over an account's rate", r["over_rate_requests"]),
        ("imports", _imports(r["imports"])),
    ]
    return f"""## Throughput against the portal's budget

{_workload(r["parameters"])}.

The bound is the least time the portal's budget allows: the requests an import needs at the
least ({r["requests_needed"]}: per company a captcha and a login, per flow and month one list
query in pages of 50, per invoice its detail and, when it has one, its XML original; counted
from the sandbox's data set) over the host budget, or the busiest account's requests over the
account budget, whichever is longer.

{_table(rows)}

Peak resident memory (VmHWM) of each process during this run:

{peaks}"""


def _comparison(r: dict[str, Any]) -> str:
    mesh, direct, legacy = r["mesh"], r["direct"], r["legacy"]
    estimate = legacy["estimated_elapsed_s_all_companies"]
    table = "\n".join(
        [
            "| crawler | time | portal requests | notes |",
            "|---|---|---|---|",
            f"| mesh | {mesh['elapsed_s']} s | {mesh['requests']} | {_imports(mesh['imports'])} |",
            f"| direct | {direct['elapsed_s']} s | {direct['requests']} | "
            f"{direct['stored']} stored, {direct['failed']} failed |",
            f"| legacy | {legacy['elapsed_s']} s for {legacy['companies_crawled']} companies, "
            f"est. {estimate} s for all | {legacy['requests']} | "
            f"{legacy['invoices']} invoices, {legacy['throttled']} 429s |",
        ]
    )
    return f"""## The mesh against a direct crawler and the legacy loop (one mesh, one data set)

{_workload(r["parameters"])}.

- **mesh**: every company imported through the gateway (Temporal, worker, connector, storage).
- **direct**: an asyncio crawler calling the same connector and storage services with the same
  plan and concurrency (10 invoices in flight per company, batches of 50) and the same budget,
  without Temporal or the worker (`programs/bench/direct.py`), into another bucket.
- **legacy**: a plain sequential loop over the portal's HTTP API with the real captcha solver
  (`programs/bench/legacy.py`), polite to the same per-account budget. Being sequential, its time
  for all companies is its measured time on {legacy["companies_crawled"]} of them scaled by the
  requests all companies need ({r["requests_needed"]}) over those they need
  ({legacy["requests_needed_by_sample"]}).

{table}

**overhead_ratio** (mesh / direct) = **{r["overhead_ratio"]}**;
**legacy_speedup** (legacy / mesh) = **{r["legacy_speedup"]}x**."""


def _evidence(r: dict[str, Any]) -> str:
    rows: list[tuple[str, object]] = [
        ("requests from blocked accounts (sandbox)", f"**{r['blocked_requests']}**"),
        ("requests beyond an account's rate (sandbox)", f"**{r['over_rate_requests']}**"),
        ("429s", r["throttled"]),
        (
            "achieved rate over the whole run",
            f"{r['achieved_rate_per_s']} req/s = **{r['achieved_ratio']}** of the budget",
        ),
        (
            "achieved rate, 10%-90% of the requests",
            f"{r['steady_rate_per_s']} req/s = {r['steady_ratio']} of the budget",
        ),
        ("imports", f"{_imports(r['imports'])} in {r['elapsed_s']} s"),
    ]
    return f"""## Shared pacing across connector replicas (issue 4's evidence)

{_workload(r["parameters"])}. Each replica has a worker of its own; Temporal spreads the
activities, Redis holds the shared budgets. Demand: {r["demand_per_s"]} req/s (every account at
its own budget) against a host budget of {r["global_budget_per_s"]} req/s.

{_table(rows)}"""


def _storm(r: dict[str, Any]) -> str:
    p = r["parameters"]
    resumed = r["resumed_s_after_storm"]
    rows: list[tuple[str, object]] = [
        ("429s drawn", r["throttled"]),
        ("requests from blocked accounts", f"**{r['blocked_requests']}**"),
        ("requests over an account's rate", r["over_rate_requests"]),
        ("portal served requests again", "never" if resumed is None else f"{resumed} s after"),
        ("imports", f"{_imports(r['imports'])} in {r['elapsed_s']} s"),
    ]
    return f"""## A storm of 429s mid-import

{_workload(p)}. Once a third of the requests were served, the sandbox answered every request
with 429 for {p["storm_seconds"]} s.

{_table(rows)}"""


def _resync(r: dict[str, Any]) -> str:
    counted = r["counted_by_the_mesh"]
    rows: list[tuple[str, object]] = [
        ("first import (as the portal stood a week ago)", f"{r['import_requests']} requests"),
        ("new / changed on the portal since", f"{r['new_invoices']} / {r['changed_invoices']}"),
        (
            "counted by the resync: new / changed / unchanged",
            f"{counted['new_invoices']} / {counted['changed']} / {counted['unchanged']}",
        ),
        ("resync requests", f"**{r['resync_requests']}**"),
        ("bound (purchases listed per ttxly)", r["resync_bound"]),
        ("resync_bound_ratio", f"**{r['resync_bound_ratio']}** (goal >= {RESYNC_GOAL})"),
        ("bound with one list query per flow and month", r["single_query_bound"]),
        ("ratio to that stricter bound", r["single_query_bound_ratio"]),
        (
            "requests by endpoint",
            ", ".join(f"{k} {v}" for k, v in r["requests_by_endpoint"].items()),
        ),
        ("requests from blocked accounts", r["blocked_requests"]),
        ("resync imports", _imports(r["imports"])),
    ]
    return f"""## A weekly resync: requests only for what changed (issue 14)

{_workload(r["parameters"])}. Imported as the portal stood {r["parameters"]["resync_after_days"]}
days before the sandbox's clock, then resynced (a rerun of the same range) at the clock: late
invoices arrived and originals were replaced or adjusted meanwhile. The bound: a login, every list
page again (electronic purchases one query per `ttxly`, as the portal UI requires), and a detail
plus, with an original, the XML of each new or changed invoice.

{_table(rows)}"""


def _gateway(r: dict[str, Any]) -> str:
    lines = [
        "| rate (req/s) | calls | p50 | p99 | codes | sender late (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for x in r["rates"]:
        codes = ", ".join(f"{k} {v}" for k, v in sorted(x["codes"].items()))
        lines.append(
            f"| {x['rate_per_s']} | {x['calls']} | {_per_rpc(x['p50_ms'])} | "
            f"{_per_rpc(x['p99_ms'])} | {codes} | {x['sender_late_ms_max']} |"
        )
    table = "\n".join(lines)
    return f"""## Gateway latency (real Temporal dev server)

Open loop at fixed rates, {r["parameters"]["seconds_per_rate"]} s each; {r["parameters"]["mix"]}
(each started import runs on the worker and fails at the portal's login: real load on Temporal).
Load shedding: {_shedding_text(r)}; latency objective (p99 <= 1 s, < 1% errors) first missed at
{r["saturated_from_rate"] or "no rate tried"} req/s.

{table}"""
