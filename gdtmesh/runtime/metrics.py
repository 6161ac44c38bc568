"""Prometheus metrics: one endpoint per process and the RPC metrics of the shared gRPC server.

The endpoint listens where `GDTMESH_METRICS_LISTEN` says (`host:port`; empty = no endpoint),
read by the shared bootstrap like `GDTMESH_LOG_LEVEL`. The worker serves Temporal's SDK
metrics there too (`temporal.connect_temporal(metrics_listen=...)`). Every metric name is
listed in docs/observability.md.

The RPC metrics follow go-grpc-prometheus, so existing dashboards and alerts work unchanged.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import urllib.request
from collections.abc import Iterator

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gdtmesh.runtime.config import ConfigError, check_listen_address

LISTEN_VARIABLE = "GDTMESH_METRICS_LISTEN"

prometheus_client.disable_created_metrics()  # `_created` series only add noise to scrapes

RPC_STARTED = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
RPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its status (streams: the whole stream).",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600),
)

BUILD_INFO = Gauge(
    "gdtmesh_build_info",
    "Always 1; the labels say which gdtmesh and Python the process runs.",
    ["version", "python"],
)


def _version() -> str:
    try:
        return importlib.metadata.version("gdtmesh")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(_version(), platform.python_version()).set(1)


def metrics_listen(environ: dict[str, str] | None = None) -> str:
    """The metrics endpoint's `host:port` from the environment ("" = none); ConfigError when
    it is not an address."""
    value = (os.environ if environ is None else environ).get(LISTEN_VARIABLE, "").strip()
    if value:
        try:
            check_listen_address(LISTEN_VARIABLE, value)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return value


def start_metrics_server(listen: str) -> int | None:
    """Serve the process's metrics on `listen` (`host:port`, port 0 = any free one) from a
    daemon thread; returns the port, None when `listen` is empty. OSError when it is taken."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    server, _ = prometheus_client.start_http_server(int(port), addr=host.strip("[]"))
    return int(server.server_port)


class ForwardedMetrics(prometheus_client.registry.Collector):
    """Another exporter's metrics (the Temporal SDK's, which serves its own endpoint) served in
    this process's endpoint, beside its process_* and gdtmesh_* series: one target per process."""

    def __init__(self, url: str) -> None:
        self._url = url

    def describe(self) -> list[Metric]:
        return []  # nothing known before the first scrape; never checked for duplicates

    def collect(self) -> Iterator[Metric]:
        try:
            with urllib.request.urlopen(self._url, timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return  # not serving yet, or stopping: this scrape has our own series only
        yield from text_string_to_metric_families(text)


def serve_with(listen: str, forwarded_url: str) -> int | None:
    """`start_metrics_server(listen)`, the metrics at `forwarded_url` included."""
    prometheus_client.REGISTRY.register(ForwardedMetrics(forwarded_url))
    return start_metrics_server(listen)


def loopback_port() -> int:
    """A free port on 127.0.0.1 for an exporter only this process scrapes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
