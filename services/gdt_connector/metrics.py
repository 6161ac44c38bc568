"""The connector's Prometheus metrics: what the portal answered and how long pacing held us.

`endpoint` is the kind of portal request (captcha, login, list, detail, export_xml), never a
URL: label values stay few and hold no invoice or account data.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PORTAL_REQUESTS = Counter(
    "gdtmesh_portal_requests_total",
    "Requests sent to the portal, by endpoint and HTTP status (timeout / error: no answer).",
    ["endpoint", "status"],
)
PORTAL_SECONDS = Histogram(
    "gdtmesh_portal_request_duration_seconds",
    "Time the portal took to answer, pacing excluded.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 45),
)
PORTAL_THROTTLED = Counter(
    "gdtmesh_portal_throttled_total",
    "HTTP 429 answers from the portal (each blocks its account for a backoff).",
    ["endpoint"],
)
PORTAL_BACKOFF_SECONDS = Counter(
    "gdtmesh_portal_backoff_seconds_total",
    "Backoff imposed on accounts after 429s (seconds the account may not send).",
)
PACING_WAIT_SECONDS = Counter(
    "gdtmesh_portal_pacing_wait_seconds_total",
    "Time requests waited for their account's or the portal's budget before leaving.",
)
PACING_BOUND = Counter(
    "gdtmesh_portal_pacing_bound_total",
    "Requests that waited or were refused for a budget, by the one that bound: account, an "
    "endpoint class (list, detail, export) or host.",
    ["budget"],
)
PACING_REFUSED = Counter(
    "gdtmesh_portal_pacing_refused_total",
    "Requests refused without being sent (RESOURCE_EXHAUSTED with a retry delay): "
    "budget = over the rate budget, backoff = the account is blocked after a 429.",
    ["reason"],
)


BUDGET_RATE = Gauge(
    "gdtmesh_portal_budget_rate",
    "The configured budget in requests per second: per account (account, and each endpoint "
    "class: list, detail, export) or for the whole portal host (host).",
    ["budget"],
)


def publish_budgets(account_rate: float, host_rate: float, endpoints: dict[str, float]) -> None:
    """The limits beside the use (gdtmesh_portal_requests_total), for dashboards."""
    BUDGET_RATE.labels("account").set(account_rate)
    BUDGET_RATE.labels("host").set(host_rate)
    for name, rate in endpoints.items():
        BUDGET_RATE.labels(name).set(rate)


# Every series an alert reads exists at 0 from the start, not only after the first 429: a rate()
# over a series that appears mid-storm misses the storm's first increase.
for _endpoint in ("captcha", "login", "list", "detail", "export_xml"):
    PORTAL_THROTTLED.labels(_endpoint)
for _budget in ("account", "list", "detail", "export", "host"):
    PACING_BOUND.labels(_budget)
for _reason in ("budget", "backoff"):
    PACING_REFUSED.labels(_reason)


def endpoint_of(path: str) -> str:
    """The kind of portal request a path is (a fixed, small set)."""
    return _ENDPOINTS.get(path.rstrip("/").rpartition("/")[2], "other")


# The last path segment names the endpoint (gdt-portal.md, "Endpoints").
_ENDPOINTS = {
    "captcha": "captcha",
    "authenticate": "login",
    "sold": "list",
    "purchase": "list",
    "detail": "detail",
    "export-xml": "export_xml",
}
