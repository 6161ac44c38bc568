"""The gRPC server every gdtmesh service runs: grpc.aio with health, reflection, tracing, RPC
metrics, the work context of each request, error mapping and graceful shutdown (SIGTERM ->
health NOT_SERVING -> `server.stop(grace)`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

from gdtmesh.runtime.errors import ServiceError
from gdtmesh.runtime.handlers import Behaviour, wrap_handler
from gdtmesh.runtime.metrics import RPC_HANDLED, RPC_SECONDS, RPC_STARTED
from gdtmesh.runtime.process import stop_signal
from gdtmesh.runtime.telemetry import (
    WorkValue,
    attached,
    flow_code,
    propagated_fields,
    without_baggage,
    work_context,
)

log = structlog.get_logger(__name__)


class ObservingInterceptor(grpc.aio.ServerInterceptor):
    """Per RPC: the work context (what the caller sent as baggage plus what the request says:
    `request_work_fields`) for its logs and spans, and the go-grpc-prometheus metrics. Sits
    outside every other interceptor but tracing, so refused calls are counted too.

    A public server (the gateway) drops the baggage its callers send: outsiders do not get to
    name the task or company our logs and spans are filed under."""

    def __init__(self, *, public: bool = False) -> None:
        self._public = public

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming:
            return handler  # client streams (reflection) are not observed
        service, _, method = details.method.strip("/").rpartition("/")
        unary_labels = ("unary", service, method)
        stream_labels = ("server_stream", service, method)

        def unary(inner: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                with _observed(unary_labels, request, context, self._public):
                    return await inner(request, context)

            return call

        def streaming(inner: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                with _observed(stream_labels, request, context, self._public):
                    async for item in inner(request, context):
                        yield item

            return call

        return wrap_handler(handler, unary, streaming)


@contextmanager
def _observed(
    labels: tuple[str, str, str], request: Any, context: grpc.aio.ServicerContext, public: bool
) -> Iterator[None]:
    RPC_STARTED.labels(*labels).inc()
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    inherited = {} if public else propagated_fields()
    try:
        with (
            attached(without_baggage()) if public else nullcontext(),
            work_context(**{**inherited, **request_work_fields(request)}),
        ):
            yield
        code = context.code() or grpc.StatusCode.OK
    except ServiceError as error:
        code = error.code
        raise
    except (grpc.aio.AbortError, grpc.aio.UsageError):
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    except (asyncio.CancelledError, GeneratorExit):
        code = grpc.StatusCode.CANCELLED
        raise
    except Exception:
        code = grpc.StatusCode.INTERNAL
        raise
    finally:
        RPC_HANDLED.labels(*labels, code.name).inc()
        RPC_SECONDS.labels(*labels).observe(time.perf_counter() - started)


def request_work_fields(request: Any) -> dict[str, WorkValue]:
    """What a request is about, from fields named by convention anywhere in its top level or
    one message below (e.g. `invoice_import.company_tax_code`): `company_tax_code`, `task_id`
    / `import_id`, `flow`, `month` (a YearMonth) and the size of an `invoices` batch. Only
    these names are read, so no credential can end up in a log or a span."""
    if not isinstance(request, Message):
        return {}
    fields: dict[str, WorkValue] = {}
    for message in (request, *_sub_messages(request)):
        for descriptor, value in message.ListFields():
            name = descriptor.name
            if name == "company_tax_code":
                fields["company"] = value
            elif name in ("task_id", "import_id"):
                fields["task_id"] = value
            elif name == "flow" and isinstance(value, int):
                fields["flow"] = flow_code(value)
            elif name == "month" and hasattr(value, "year") and hasattr(value, "month"):
                fields["month"] = f"{value.year:04d}-{value.month:02d}"
            elif name == "invoices" and descriptor.is_repeated:
                fields["batch_size"] = len(value)
    return fields


def _sub_messages(request: Message) -> list[Message]:
    return [
        value
        for descriptor, value in request.ListFields()
        if descriptor.message_type is not None and not descriptor.is_repeated
    ]


_UNDECODABLE = object()  # what a request body that is not the method's message decodes to


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """grpc answers UNKNOWN when the deserializer raises; we want INVALID_ARGUMENT."""
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            return _UNDECODABLE

    return deserialize


def _check_decoded(request: Any) -> None:
    if request is _UNDECODABLE:
        raise ServiceError(
            grpc.StatusCode.INVALID_ARGUMENT, "the request body is not a valid protobuf message"
        )


class ErrorMappingInterceptor(grpc.aio.ServerInterceptor):
    """Turns `ServiceError` into a rich status, an undecodable request into INVALID_ARGUMENT and
    any other exception into INTERNAL, logged with its type only (exception text can hold
    request data)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_streaming:
            return handler  # client streams (reflection) are left to grpc
        method = details.method

        def unary(inner: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    _check_decoded(request)
                    return await inner(request, context)
                except Exception as error:
                    await _abort(context, method, error)

            return call

        def streaming(inner: Behaviour) -> Behaviour:
            async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                try:
                    _check_decoded(request)
                    async for item in inner(request, context):
                        yield item
                except Exception as error:
                    await _abort(context, method, error)

            return call

        return wrap_handler(handler, unary, streaming, deserializer=_tolerant)


async def _abort(context: grpc.aio.ServicerContext, method: str, error: Exception) -> None:
    if isinstance(error, asyncio.CancelledError | grpc.aio.AbortError):
        raise error
    if isinstance(error, ServiceError):
        log.info("rpc failed", method=method, code=error.code.name, reason=error.message)
        await context.abort_with_status(error.to_status())
    log.error("rpc crashed", method=method, error_type=type(error).__name__)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(error).__name__})")


@dataclass
class GrpcService:
    """A running gRPC server; `stop()` drains it gracefully."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: Sequence[str]
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def stop(self, grace: float = 5.0) -> None:
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)
        for hook in self.on_stop:
            await hook()


async def start_grpc_service(
    listen: str,
    register: Callable[[grpc.aio.Server], Sequence[str]],
    *,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    max_message_bytes: int = 16 * 1024 * 1024,
    public: bool = False,
) -> GrpcService:
    """Build and start a server. `register` adds the servicers and returns their full names;
    `public` for a server outside callers reach (see `ObservingInterceptor`)."""
    server = grpc.aio.server(
        interceptors=[
            aio_server_interceptor(filter_=filters.negate(filters.health_check())),
            ObservingInterceptor(public=public),
            *extra_interceptors,
            ErrorMappingInterceptor(),
        ],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),  # a taken port must fail, not be shared silently
        ],
    )
    names = list(register(server))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME],
        server,
    )
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as error:
        raise OSError(f"cannot listen on {listen}: {error}") from None
    if port == 0:
        raise OSError(f"cannot listen on {listen}: address in use or not available")
    await server.start()
    for name in ("", *names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return GrpcService(server, port, health_servicer, names)


async def run_until_signal(service: GrpcService, grace: float) -> None:
    """Serve until SIGTERM or SIGINT, then drain gracefully."""
    await stop_signal().wait()
    log.info("stopping", grace_seconds=grace)
    await service.stop(grace)
