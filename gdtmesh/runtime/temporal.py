"""The Temporal client every gdtmesh process uses: encrypted payloads and failures, and the
interceptors workers built from it inherit: OpenTelemetry tracing (workflow and activity spans,
trace context carried through Temporal) and the work context of every activity (its logs and
spans say which task, company, flow and month they belong to). Optionally the process serves
Temporal's SDK metrics on a Prometheus endpoint."""

from __future__ import annotations

import dataclasses
from typing import Any

from temporalio import activity, client, worker, workflow
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from gdtmesh.runtime import metrics
from gdtmesh.runtime.codec import EncryptionCodec
from gdtmesh.runtime.telemetry import WorkValue, flow_code, propagated_fields, work_context

# The context goes on the JSON line as fields (logs.flatten_temporal), not into the message.
activity.logger.activity_info_on_message = False
workflow.logger.workflow_info_on_message = False


def data_converter(keys: dict[str, bytes]) -> DataConverter:
    return dataclasses.replace(
        DataConverter.default,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect_temporal(
    target: str, namespace: str, keys: dict[str, bytes], *, metrics_listen: str = ""
) -> Client:
    """Connect; `metrics_listen` (`host:port`) also serves the SDK's metrics (worker and client)
    for Prometheus there. OSError when that address cannot be bound."""
    runtime = _runtime_with_metrics(metrics_listen) if metrics_listen else None
    return await Client.connect(
        target,
        namespace=namespace,
        data_converter=data_converter(keys),
        # Tracing first: the work context then runs inside the activity's span.
        interceptors=[TracingInterceptor(), WorkContextInterceptor()],
        runtime=runtime,
    )


def _runtime_with_metrics(listen: str) -> Runtime:
    """The SDK serves its metrics on a private loopback port; `listen` serves them with the
    process's own (process_*, gdtmesh_*), which the SDK's exporter does not have."""
    sdk = f"127.0.0.1:{metrics.loopback_port()}"
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=_prometheus(sdk)))
    except Exception as error:  # the Rust core reports a bind failure as a plain exception
        raise OSError(f"cannot serve Temporal metrics on {sdk}: {error}") from None
    metrics.serve_with(listen, f"http://{sdk}/metrics")
    return runtime


def _prometheus(listen: str) -> PrometheusConfig:
    """Prometheus conventions: counters end in `_total`, durations are seconds and say so."""
    return PrometheusConfig(
        bind_address=listen, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True
    )


class WorkContextInterceptor(client.Interceptor, worker.Interceptor):
    """Runs every activity in a work context: task id (the workflow id), activity type and
    attempt, the company the gateway sent along, and what the activity's input says."""

    def intercept_activity(
        self, next: worker.ActivityInboundInterceptor
    ) -> worker.ActivityInboundInterceptor:
        return _ActivityWorkContext(next)


class _ActivityWorkContext(worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: worker.ExecuteActivityInput) -> Any:
        info = activity.info()
        fields: dict[str, WorkValue | None] = {
            **propagated_fields(),
            "task_id": info.workflow_id,
            "activity": info.activity_type,
            "attempt": info.attempt,
            **activity_work_fields(input.args),
        }
        with work_context(**fields):
            return await self.next.execute_activity(input)


def activity_work_fields(args: Any) -> dict[str, WorkValue]:
    """What an activity's input (one dataclass, by convention) is about, from its field names:
    `company_tax_code`, `import_id`, `flow`, `year` + `month`, and an `invoices` batch."""
    params = args[0] if len(args) == 1 else None
    if params is None or not dataclasses.is_dataclass(params):
        return {}
    fields: dict[str, WorkValue] = {}
    if company := getattr(params, "company_tax_code", ""):
        fields["company"] = company
    if import_id := getattr(params, "import_id", ""):
        fields["task_id"] = import_id
    if isinstance(flow := getattr(params, "flow", None), int):
        fields["flow"] = flow_code(flow)
    year, month = getattr(params, "year", None), getattr(params, "month", None)
    if isinstance(year, int) and isinstance(month, int):
        fields["month"] = f"{year:04d}-{month:02d}"
    if isinstance(invoices := getattr(params, "invoices", None), list):
        fields["batch_size"] = len(invoices)
    return fields
