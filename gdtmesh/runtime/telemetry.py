"""OpenTelemetry set-up, once per process before any client or server exists, and the work
context every log line and span of a piece of work carries.

Export is configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns on OTLP/gRPC export, `OTEL_BSP_*` tune batching;
without an endpoint spans are still created (so logs carry trace ids) but not exported.

The work context (`work_context`) says what the current work is about: task id, company, flow,
month, batch size, activity. Log lines carry its fields, spans started inside it carry them as
`gdtmesh.<field>` attributes, and the task id and company travel to the next service as W3C
baggage (`gdtmesh.task_id`, `gdtmesh.company`), where the gRPC server and the Temporal activity
interceptor read them back (`propagated_fields`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import structlog
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from gdtmesh.flows import flow_info

# What a piece of work can be about; nothing else is bound or copied onto spans.
WORK_FIELDS = ("task_id", "company", "flow", "month", "batch_size", "activity", "attempt")
# The fields that follow the work across processes (never secrets: ids and tax codes only).
PROPAGATED_FIELDS = ("task_id", "company")
ATTRIBUTE_PREFIX = "gdtmesh."

WorkValue = str | int

_provider: TracerProvider | None = None


def init_telemetry(service_name: str) -> TracerProvider:
    """Install the global tracer provider for `service_name` (idempotent)."""
    global _provider
    if _provider is not None:
        return _provider
    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    _provider.add_span_processor(WorkContextSpanProcessor())
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)
    return _provider


def shutdown_telemetry() -> None:
    """Flush buffered spans; call before the process exits."""
    if _provider is not None:
        _provider.shutdown()


def work_attributes(fields: Mapping[str, WorkValue]) -> dict[str, WorkValue]:
    return {ATTRIBUTE_PREFIX + name: value for name, value in fields.items()}


@contextmanager
def work_context(**fields: WorkValue | None) -> Iterator[None]:
    """For the block: log lines carry `fields` (empty ones are dropped), the current span and
    every span started inside carry them as attributes, and the propagated ones go out as
    baggage with every traced call."""
    present = {k: v for k, v in fields.items() if k in WORK_FIELDS and v not in (None, "")}
    trace.get_current_span().set_attributes(work_attributes(present))
    context = otel_context.get_current()
    for name in PROPAGATED_FIELDS:
        if name in present:
            context = baggage.set_baggage(ATTRIBUTE_PREFIX + name, str(present[name]), context)
    with attached(context):
        log_tokens = structlog.contextvars.bind_contextvars(**present)
        try:
            yield
        finally:
            # A stream handler may be finalised in another context: nothing to undo there.
            with suppress(ValueError):
                structlog.contextvars.reset_contextvars(**log_tokens)


@contextmanager
def attached(context: Context) -> Iterator[None]:
    """`context` is the current OpenTelemetry context for the block (detached quietly where
    the block ends in another asyncio context, as a cancelled stream handler may)."""
    token = otel_context.attach(context)
    try:
        yield
    finally:
        with suppress(ValueError):
            token.var.reset(token)  # type: ignore[attr-defined]


def flow_code(value: int) -> str:
    """A flow's portal code (what the bucket layout uses), or the raw number if unknown."""
    try:
        return flow_info(value).code  # type: ignore[arg-type]
    except ValueError:
        return str(value)


def propagated_fields(context: Context | None = None) -> dict[str, str]:
    """The work fields the caller sent along as baggage."""
    entries = baggage.get_all(context)
    return {
        name: str(entries[ATTRIBUTE_PREFIX + name])
        for name in PROPAGATED_FIELDS
        if ATTRIBUTE_PREFIX + name in entries
    }


def without_baggage() -> Context:
    """The current context minus baggage: for calls leaving the mesh (the portal), which have
    no business knowing our task ids."""
    return baggage.clear()


def current_work() -> dict[str, Any]:
    """The work fields bound in this context."""
    bound = structlog.contextvars.get_contextvars()
    return {name: bound[name] for name in WORK_FIELDS if name in bound}


class WorkContextSpanProcessor(SpanProcessor):
    """Copies the work context onto every span as it starts, so a portal request or a bucket
    call can be found by company or task in Jaeger without each call site repeating it."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        work = current_work()
        if work:
            span.set_attributes(work_attributes(work))

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
