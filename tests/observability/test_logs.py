"""Log lines join their spans: trace and span ids as Jaeger shows them, the work context (task,
company, flow, month) on the line and on the spans, carried across a gRPC hop as baggage; and
the shared server counts RPCs by method and code."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import grpc
import pytest
import structlog
from log_capture import LogLines
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.invoice.v1.invoice_pb2 import Flow, InvoiceSummary, YearMonth
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.runtime.grpc_server import GrpcService, request_work_fields, start_grpc_service
from gdtmesh.runtime.telemetry import work_context
from gdtmesh.runtime.temporal import activity_work_fields
from workers.imports.models import FetchBatchInput, ListInvoicesInput, OpenSessionInput

TASK_ID = "acme:invoice-import:0101234567:20250101-20250131:all"
COMPANY = "0101234567"
PASSWORD = "s3cret-portal-password"
HEX32, HEX16 = re.compile(r"[0-9a-f]{32}"), re.compile(r"[0-9a-f]{16}")


def ids_of(span: trace.Span) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_a_log_line_carries_the_ids_of_its_span(
    log_lines: LogLines, exported: InMemorySpanExporter
) -> None:
    with trace.get_tracer(__name__).start_as_current_span("work") as span:
        structlog.get_logger("test").info("inside the span")
    structlog.get_logger("test").info("outside any span")

    line = log_lines.find("inside the span")
    assert HEX32.fullmatch(line["trace_id"]) and HEX16.fullmatch(line["span_id"])
    assert (line["trace_id"], line["span_id"]) == ids_of(span)
    assert line["service"] == "tests" and line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert "trace_id" not in log_lines.find("outside any span")
    [finished] = exported.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == line["trace_id"]  # what is exported


def test_the_work_context_is_on_lines_and_on_the_spans_started_in_it(
    log_lines: LogLines, exported: InMemorySpanExporter
) -> None:
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("activity") as outer:
        with (
            work_context(task_id=TASK_ID, company=COMPANY, flow="ban_ra_dien_tu", month=""),
            tracer.start_as_current_span("portal list"),
        ):
            logging.getLogger("stdlib").info("from the standard library")
        structlog.get_logger("test").info("after the block")

    line = log_lines.find("from the standard library")
    assert (line["task_id"], line["company"], line["flow"]) == (TASK_ID, COMPANY, "ban_ra_dien_tu")
    assert "month" not in line  # empty fields are left out
    assert "task_id" not in log_lines.find("after the block")
    spans = {span.name: dict(span.attributes or {}) for span in exported.get_finished_spans()}
    for name in ("activity", "portal list"):  # the current span and the ones started inside
        assert spans[name]["gdtmesh.task_id"] == TASK_ID
        assert spans[name]["gdtmesh.company"] == COMPANY
    assert (line["trace_id"], line["span_id"]) != ids_of(outer)  # the inner span's ids


def test_temporal_logger_context_becomes_fields(log_lines: LogLines) -> None:
    details = {"workflow_id": TASK_ID, "workflow_type": "InvoiceImport", "attempt": 1}
    logging.getLogger("temporalio.workflow").info(
        "import started", extra={"temporal_workflow": details, "unrelated": "dropped"}
    )
    line = log_lines.find("import started")
    assert (line["task_id"], line["workflow_type"], line["attempt"]) == (
        TASK_ID,
        "InvoiceImport",
        1,
    )
    assert "temporal_workflow" not in line and "unrelated" not in line


class LoggingConnector(gdt_connector_pb2_grpc.GdtConnectorServiceServicer):
    async def OpenSession(self, request, context):  # type: ignore[no-untyped-def]
        structlog.get_logger("servicer").info("opening")
        return gdt_connector_pb2.OpenSessionResponse(session_id="handle")

    async def ListInvoices(self, request, context):  # type: ignore[no-untyped-def]
        structlog.get_logger("servicer").info("listing")
        yield gdt_connector_pb2.ListInvoicesResponse(portal_total=0)

    async def FetchInvoices(self, request, context):  # type: ignore[no-untyped-def]
        yield gdt_connector_pb2.FetchInvoicesResponse()


def register(server: grpc.aio.Server) -> list[str]:
    gdt_connector_pb2_grpc.add_GdtConnectorServiceServicer_to_server(LoggingConnector(), server)
    return ["gdtmesh.gdt_connector.v1.GdtConnectorService"]


@pytest.fixture
async def connector() -> AsyncIterator[GrpcService]:
    service = await start_grpc_service("127.0.0.1:0", register)
    yield service
    await service.stop(0)


@pytest.fixture
async def public_server() -> AsyncIterator[GrpcService]:
    service = await start_grpc_service("127.0.0.1:0", register, public=True)
    yield service
    await service.stop(0)


async def test_the_work_context_crosses_a_grpc_hop(
    connector: GrpcService, log_lines: LogLines, exported: InMemorySpanExporter
) -> None:
    labels = {
        "grpc_type": "server_stream",
        "grpc_service": "gdtmesh.gdt_connector.v1.GdtConnectorService",
        "grpc_method": "ListInvoices",
        "grpc_code": "OK",
    }
    before = REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0
    request = gdt_connector_pb2.ListInvoicesRequest(
        session_id="handle", flow=Flow.FLOW_PURCHASE_ELECTRONIC, month=YearMonth(year=2025, month=3)
    )
    channel = open_channel(f"127.0.0.1:{connector.port}")
    try:
        stub = gdt_connector_pb2_grpc.GdtConnectorServiceStub(channel)
        with work_context(task_id=TASK_ID, company=COMPANY):
            pages = [page async for page in stub.ListInvoices(request, timeout=5)]
            await stub.OpenSession(
                gdt_connector_pb2.OpenSessionRequest(username=COMPANY, password=PASSWORD), timeout=5
            )
    finally:
        await channel.close()

    assert len(pages) == 1
    line = log_lines.find("listing")
    assert (line["task_id"], line["company"]) == (TASK_ID, COMPANY)  # from the caller's baggage
    assert (line["flow"], line["month"]) == ("mua_vao_dien_tu", "2025-03")  # from the request
    [server] = [
        s
        for s in exported.get_finished_spans()
        if s.name == "/gdtmesh.gdt_connector.v1.GdtConnectorService/ListInvoices"
        and s.kind == trace.SpanKind.SERVER
    ]
    assert (line["trace_id"], line["span_id"]) == ids_of(server)  # type: ignore[arg-type]
    assert dict(server.attributes or {})["gdtmesh.month"] == "2025-03"
    assert REGISTRY.get_sample_value("grpc_server_handled_total", labels) == before + 1
    assert PASSWORD not in log_lines.buffer.getvalue()
    assert all(PASSWORD not in str(s.attributes) for s in exported.get_finished_spans())


async def test_a_public_server_ignores_the_callers_baggage(
    public_server: GrpcService, log_lines: LogLines, exported: InMemorySpanExporter
) -> None:
    request = gdt_connector_pb2.ListInvoicesRequest(
        session_id="handle", month=YearMonth(year=2025, month=3)
    )
    channel = open_channel(f"127.0.0.1:{public_server.port}")
    try:
        with work_context(task_id="someone-elses-task", company=COMPANY):
            stub = gdt_connector_pb2_grpc.GdtConnectorServiceStub(channel)
            assert len([page async for page in stub.ListInvoices(request, timeout=5)]) == 1
    finally:
        await channel.close()

    line = log_lines.find("listing")
    assert "task_id" not in line and "company" not in line
    assert line["month"] == "2025-03"  # what the request itself says still counts
    assert "trace_id" in line  # a traced caller still continues its trace


def test_request_fields_come_from_conventional_names_only() -> None:
    fetch = gdt_connector_pb2.FetchInvoicesRequest(
        session_id="handle", flow=Flow.FLOW_SOLD_CASH_REGISTER, invoices=[InvoiceSummary()] * 3
    )
    assert request_work_fields(fetch) == {"flow": "ban_ra_may_tinh_tien", "batch_size": 3}
    login = gdt_connector_pb2.OpenSessionRequest(username=COMPANY, password=PASSWORD)
    assert request_work_fields(login) == {}
    assert request_work_fields(object()) == {}


def test_activity_fields_come_from_the_input_dataclass() -> None:
    batch = FetchBatchInput("handle", COMPANY, "bucket", int(Flow.FLOW_SOLD_ELECTRONIC), ["a", "b"])
    assert activity_work_fields([batch]) == {
        "company": COMPANY,
        "flow": "ban_ra_dien_tu",
        "batch_size": 2,
    }
    listing = ListInvoicesInput("handle", 99, 2025, 1, "2025-01-01", "2025-01-31")
    assert activity_work_fields([listing]) == {"flow": "99", "month": "2025-01"}
    assert activity_work_fields([OpenSessionInput(COMPANY, PASSWORD)]) == {}
    assert activity_work_fields(["not a dataclass"]) == {}
