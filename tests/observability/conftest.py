"""In-process telemetry for the observability tests: the SDK tracer provider (with the work
context processor, as every gdtmesh process has it) exporting to memory, and JSON logs to a
buffer."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from log_capture import LogLines
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gdtmesh.runtime.logs import configure_logging
from gdtmesh.runtime.telemetry import WorkContextSpanProcessor, init_telemetry

_work_processor_added: set[int] = set()


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Spans finished during the test."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = init_telemetry("tests")
    if id(provider) not in _work_processor_added:  # another test may have set a bare provider
        provider.add_span_processor(WorkContextSpanProcessor())
        _work_processor_added.add(id(provider))
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    yield exporter
    processor.shutdown()


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """The JSON lines logged during the test (the process set-up, into a buffer)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = structlog.get_config()
    lines = LogLines()
    configure_logging("tests", "INFO", stream=lines.buffer)
    yield lines
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
