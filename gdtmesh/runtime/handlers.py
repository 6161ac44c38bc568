"""Wrapping a gRPC method handler, so that an interceptor says only what it adds around a call
and not again how grpc builds each of the four kinds of handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Behaviour = Callable[..., Any]  # a handler's `(request, context)` coroutine or async generator
Wrapper = Callable[[Behaviour], Behaviour]
Deserializer = Callable[[bytes], Any] | None

_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    unary: Wrapper,
    streaming: Wrapper,
    *,
    deserializer: Callable[[Deserializer], Deserializer] = lambda same: same,
) -> grpc.RpcMethodHandler:
    """A handler of the same kind whose behaviour is `unary(inner)` for a single response or
    `streaming(inner)` for a response stream; the serializers stay, the request deserializer
    passes through `deserializer`. A handler of no known kind comes back as it is."""
    wrap = streaming if handler.response_streaming else unary
    for attribute, build in _KINDS:
        inner = getattr(handler, attribute)
        if inner is not None:
            return build(
                wrap(inner), deserializer(handler.request_deserializer), handler.response_serializer
            )
    return handler
