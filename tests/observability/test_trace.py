"""One import through the embedded mesh (real processes) exporting to an OTLP receiver of our
own: one trace from the gateway's StartTask to every portal request and bucket call, with useful
attributes and no secret; process log lines that point at its spans; and a Prometheus endpoint
per process with the expected series.

The sandbox answers the first requests of the import with 429 (a one-second storm), so the trace
also shows a throttled portal request, its retry delay and the activity's retry."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from otlp_receiver import OtlpReceiver, ReceivedSpan
from prometheus_client.parser import text_string_to_metric_families

from gdtmesh.flows import FLOWS, FlowInfo
from gdtmesh.gateway.v1 import gateway_pb2
from programs.bench.runs import post_json
from programs.client import GatewayClient
from programs.mesh.demo import sandbox_range
from programs.mesh.launcher import Mesh, start_mesh_on_free_ports
from programs.mesh.verify import get_json

pytestmark = pytest.mark.slow

SANDBOX_ARGS = ["--companies", "1", "--invoices", "40", "--months", "1", "--latency-scale", "0"]
SERVICES = ("gateway", "worker", "gdt_connector", "storage")
JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+")
START_TASK = "/gdtmesh.gateway.v1.TaskService/StartTask"


@dataclass
class Import:
    """What one traced import left behind, collected before and after the mesh stopped."""

    company: dict[str, Any]
    flow: FlowInfo
    month: str
    invoices: int
    task: gateway_pb2.Task
    spans: list[ReceivedSpan]
    secrets: list[str]
    logs: Path
    metrics: dict[str, str]  # process -> its /metrics text


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Import]:
    receiver = OtlpReceiver().start()
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    mesh = start_mesh_on_free_ports(
        tmp_path_factory.mktemp("mesh"),
        sandbox_args=SANDBOX_ARGS,
        extra_env=otel,
    )
    try:
        yield _run_import(mesh, receiver)
    finally:
        mesh.stop()
        receiver.stop()


def _run_import(mesh: Mesh, receiver: OtlpReceiver) -> Import:
    endpoints = mesh.endpoints()
    sandbox = endpoints["sandbox"]
    company = next(c for c in get_json(f"{sandbox}/_sandbox/companies") if not c["locked"])
    first, today = sandbox_range(sandbox)
    month = f"{today.year:04d}-{today.month:02d}"
    flow, invoices = _busiest_flow(sandbox, company["mst"], month)
    post_json(f"{sandbox}/_sandbox/config", {"retry_after": True, "storm_seconds": 1})

    async def run() -> gateway_pb2.Task:
        async with GatewayClient(endpoints["gateway"], endpoints["api_key"]) as client:
            with suppress_instrumentation():  # the trace starts at the gateway, not in here
                reply = await client.start_import(
                    company["mst"], company["password"], first, today, [flow.flow]
                )
                return await client.wait(reply.task.task_id, interval=0.3)

    task = asyncio.run(asyncio.wait_for(run(), timeout=60))
    metrics = {name: _scrape(endpoints[f"{name}_metrics"]) for name in SERVICES}
    receiver.wait_for(lambda spans: _has_manifest_write(spans, task.task_id))
    mesh.stop()  # SIGTERM: every process flushes what it still holds
    secrets = [company["password"], endpoints["api_key"], mesh.codec_keys, mesh.connector_key]
    return Import(
        company,
        flow,
        month,
        invoices,
        task,
        receiver.spans(),
        secrets,
        Path(endpoints["logs"]),
        metrics,
    )


def _busiest_flow(sandbox: str, company: str, month: str) -> tuple[FlowInfo, int]:
    counts = [
        (
            len(
                get_json(f"{sandbox}/_sandbox/truth?company={company}&flow={f.code}&month={month}")[
                    "invoices"
                ]
            ),
            f,
        )
        for f in FLOWS
    ]
    count, flow = max(counts, key=lambda pair: pair[0])
    assert count > 0, "the sandbox month has no invoices"
    return flow, count


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def _has_manifest_write(spans: list[ReceivedSpan], task_id: str) -> bool:
    return any(
        s.service == "storage"
        and s.name.endswith("/WriteManifest")
        and s.attributes.get("gdtmesh.task_id") == task_id
        for s in spans
    )


def _import_trace(traced: Import) -> list[ReceivedSpan]:
    [root] = [
        s
        for s in traced.spans
        if s.service == "gateway" and s.name == START_TASK and s.kind == 2  # SERVER
    ]
    assert root.parent_id == ""  # the trace starts at the gateway RPC
    return [s for s in traced.spans if s.trace_id == root.trace_id]


def test_the_import_succeeded(traced: Import) -> None:
    assert traced.task.status == gateway_pb2.TASK_STATUS_SUCCEEDED, traced.task.failure_message
    [progress] = traced.task.invoice_import.flows
    assert progress.totals.stored == traced.invoices


def test_one_trace_from_the_gateway_to_every_portal_request_and_bucket_call(
    traced: Import,
) -> None:
    spans = _import_trace(traced)
    ids = {s.span_id for s in spans}
    orphans = [(s.service, s.name) for s in spans if s.parent_id and s.parent_id not in ids]
    assert not orphans, orphans
    assert {s.service for s in spans} == set(SERVICES)

    names = {(s.service, s.name) for s in spans}
    for expected in (
        ("gateway", "StartWorkflow:InvoiceImport"),
        ("worker", "RunWorkflow:InvoiceImport"),
        ("worker", "RunActivity:open_session"),
        ("worker", "RunActivity:fetch_invoice_batch"),
        ("worker", "/gdtmesh.gdt_connector.v1.GdtConnectorService/FetchInvoices"),
        ("gdt_connector", "/gdtmesh.gdt_connector.v1.GdtConnectorService/ListInvoices"),
        ("gdt_connector", "portal detail"),
        ("storage", "/gdtmesh.storage.v1.StorageService/WriteInvoice"),
        ("storage", "storage-gcs create_if_absent"),
    ):
        assert expected in names, expected
    # Every invoice's detail went through a portal request and a bucket write in this trace.
    details = [s for s in spans if s.name == "portal detail"]
    assert len(details) >= traced.invoices
    writes = [s for s in spans if s.name == "storage-gcs create_if_absent"]
    assert len({s.attributes["storage.object"] for s in writes}) >= traced.invoices


def test_spans_say_what_they_are_about(traced: Import) -> None:
    spans = _import_trace(traced)
    task_id, company = traced.task.task_id, traced.company["mst"]

    [listing] = [s for s in spans if s.name == "RunActivity:list_invoices"]
    assert listing.attributes["gdtmesh.company"] == company  # sent along by the gateway
    assert listing.attributes["gdtmesh.task_id"] == task_id
    assert listing.attributes["gdtmesh.flow"] == traced.flow.code
    assert listing.attributes["gdtmesh.month"] == traced.month
    batches = [s for s in spans if s.name == "RunActivity:fetch_invoice_batch"]
    assert sum(s.attributes["gdtmesh.batch_size"] for s in batches) >= traced.invoices

    page = next(s for s in spans if s.name == "portal list")
    assert page.attributes["gdt.account"] == company
    assert page.attributes["gdtmesh.company"] == company
    assert page.attributes["gdtmesh.task_id"] == task_id
    assert page.attributes["gdtmesh.flow"] == traced.flow.code
    assert page.attributes["gdtmesh.month"] == traced.month
    assert page.attributes["http.response.status_code"] == 200
    assert "?" not in str(page.attributes["url.path"])

    throttled = [s for s in spans if s.attributes.get("http.response.status_code") == 429]
    assert throttled, "the storm's 429 is in the trace"
    assert all(
        s.attributes["gdt.throttled"]
        for s in throttled
        if s.service == "gdt_connector" and s.name.startswith("portal ")
    )
    assert any(s.attributes.get("gdt.retry_delay_s", 0) > 0 for s in throttled)
    attempts = [s for s in spans if s.name == "RunActivity:open_session"]
    assert len(attempts) >= 2  # retried after the delay

    write = next(s for s in spans if s.name == "storage-gcs create_if_absent")
    assert write.attributes["storage.bucket"] == "gdtmesh-invoices"
    assert str(write.attributes["storage.object"]).startswith(f"gdt_invoices/{company}/")
    assert write.attributes["storage.outcome"] == "created"
    assert write.attributes["gdtmesh.task_id"] == task_id


def test_no_secret_in_any_span(traced: Import) -> None:
    for span in traced.spans:
        text = json.dumps(span.attributes, default=str)
        assert not JWT.search(text), (span.service, span.name)
        leaked = [secret for secret in traced.secrets if secret and secret in text]
        assert not leaked, (span.service, span.name)


def _log_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_process_log_lines_point_at_their_spans(traced: Import) -> None:
    spans = {(s.trace_id, s.span_id): s for s in _import_trace(traced)}
    [trace_id] = {trace for trace, _ in spans}
    task_id, company = traced.task.task_id, traced.company["mst"]

    [login] = [
        line
        for line in _log_lines(traced.logs / "gdt_connector.log")
        if line["event"] == "logged in" and line.get("trace_id") == trace_id
    ]
    span = spans[(login["trace_id"], login["span_id"])]  # a span that was exported
    assert (span.service, span.name) == (
        "gdt_connector",
        "/gdtmesh.gdt_connector.v1.GdtConnectorService/OpenSession",
    )
    assert (login["task_id"], login["company"], login["service"]) == (
        task_id,
        company,
        "gdt_connector",
    )
    workflow_lines = [
        line
        for line in _log_lines(traced.logs / "worker.log")
        if line["logger"] == "temporalio.workflow" and line.get("task_id") == task_id
    ]
    assert workflow_lines and all(line["trace_id"] == trace_id for line in workflow_lines)
    for line in _log_lines(traced.logs / "storage.log"):
        assert traced.company["password"] not in json.dumps(line)


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(
        value
        for (sample, sample_labels), value in _samples(text).items()
        if sample == name and set(labels.items()) <= sample_labels
    )


def test_every_process_serves_its_metrics(traced: Import) -> None:
    gateway, connector, storage, worker = (
        traced.metrics[name] for name in ("gateway", "gdt_connector", "storage", "worker")
    )
    assert _value(gateway, "grpc_server_handled_total", grpc_method="StartTask", grpc_code="OK")
    assert _value(
        connector,
        "grpc_server_handled_total",
        grpc_method="OpenSession",
        grpc_code="RESOURCE_EXHAUSTED",
    )
    assert _value(connector, "gdtmesh_portal_requests_total", endpoint="list", status="200")
    assert _value(connector, "gdtmesh_portal_requests_total", endpoint="detail", status="200") >= (
        traced.invoices
    )
    assert _value(connector, "gdtmesh_portal_throttled_total") >= 1
    assert _value(connector, "gdtmesh_portal_backoff_seconds_total") > 0
    assert "gdtmesh_portal_pacing_wait_seconds_total" in connector
    assert _value(storage, "gdtmesh_storage_invoices_total", outcome="written") == traced.invoices
    assert _value(storage, "gdtmesh_storage_bytes_written_total", kind="detail") > 0
    assert (
        _value(
            storage,
            "gdtmesh_storage_bucket_calls_total",
            backend="gcs",
            operation="create_if_absent",
            outcome="created",
        )
        >= traced.invoices
    )
    assert _value(worker, "temporal_workflow_completed_total", workflow_type="InvoiceImport") == 1
    assert _value(  # the throttled login
        worker, "temporal_activity_execution_failed_total", activity_type="open_session"
    )
    assert _value(worker, "temporal_activity_execution_latency_seconds_count") > 0
