"""structlog JSON logs that join traces: every line carries `trace_id` (32 hex) and `span_id`
(16 hex) of the current span, the work context bound with `telemetry.work_context` (task id,
company, flow, month, ...), and, for Temporal's `workflow.logger` / `activity.logger`, the
workflow and activity they ran in."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from opentelemetry import trace

# Temporal's loggers put their context in `extra`; these keys are kept, flattened.
_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")


def add_trace_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def flatten_temporal(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`temporal_workflow` / `temporal_activity` dicts -> task_id (the workflow id: gateway task
    ids are workflow ids), workflow_type, activity, attempt."""
    for key in _TEMPORAL_EXTRAS:
        info = event.pop(key, None)
        if not isinstance(info, dict):
            continue
        for source, target in (
            ("workflow_id", "task_id"),
            ("workflow_type", "workflow_type"),
            ("activity_type", "activity"),
            ("attempt", "attempt"),
        ):
            if info.get(source) is not None:
                event.setdefault(target, info[source])
    return event


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to one JSON line per event on `stream` (stderr)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared,
            structlog.stdlib.ExtraAdder(allow=_TEMPORAL_EXTRAS),
            flatten_temporal,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            lambda _, __, event: {"service": service, **event},
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "urllib3", "google.auth"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
