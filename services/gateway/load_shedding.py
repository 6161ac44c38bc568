"""Load shedding: past a configured number of RPCs in progress, the gateway answers at once with
RESOURCE_EXHAUSTED and a RetryInfo delay instead of queueing calls without bound (each holds
Temporal calls and memory, and a caller that waited minutes has usually given up anyway).

Unary calls and server streams (WatchTask, which lives as long as its task) have separate
budgets, so many watchers never starve StartTask. Health and reflection are never shed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import grpc
import structlog
from prometheus_client import Counter

from gdtmesh import reasons
from gdtmesh.runtime.errors import retry_later
from gdtmesh.runtime.handlers import wrap_handler
from services.gateway.auth import PUBLIC_METHOD_PREFIXES

log = structlog.get_logger(__name__)


class _Budget:
    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.in_use = 0

    def take(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def give_back(self) -> None:
        self.in_use -= 1


SHED = Counter(
    "gdtmesh_gateway_shed_total",
    "Calls the gateway refused at once with RESOURCE_EXHAUSTED, by budget: unary or stream.",
    ["budget"],
)
for _budget in ("unary", "stream"):
    SHED.labels(_budget)  # at 0 from the start


class LoadSheddingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        max_unary: int,
        max_streams: int,
        retry_after: timedelta = timedelta(seconds=1),
    ) -> None:
        self._unary = _Budget("unary", max_unary)
        self._streams = _Budget("stream", max_streams)
        self._retry_after = retry_after
        self.shed = 0  # calls refused so far

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        if handler.request_streaming:
            return handler  # the API has no client-streaming calls
        return wrap_handler(
            handler,
            lambda inner: self._unary_call(inner, method),
            lambda inner: self._stream_call(inner, method),
        )

    def _unary_call(self, inner: Callable[..., Any], method: str) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._admit(self._unary, method, context)
            try:
                return await inner(request, context)
            finally:
                self._unary.give_back()

        return call

    def _stream_call(self, inner: Callable[..., Any], method: str) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            await self._admit(self._streams, method, context)
            try:
                async for response in inner(request, context):
                    yield response
            finally:
                self._streams.give_back()

        return call

    async def _admit(self, budget: _Budget, method: str, context: grpc.aio.ServicerContext) -> None:
        if budget.take():
            return
        self.shed += 1
        SHED.labels(budget.name).inc()
        log.warning("rpc shed", method=method, budget=budget.name, limit=budget.limit)
        text = f"the gateway is at its limit of {budget.limit} {budget.name} calls; retry later"
        await context.abort_with_status(
            retry_later(self._retry_after, text, reason=reasons.OVERLOADED).to_status()
        )
