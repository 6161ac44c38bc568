"""`wrap_handler`: every kind of handler keeps its kind and serializers, and runs the wrapper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from gdtmesh.runtime.handlers import Behaviour, wrap_handler


async def answer(request: Any, context: Any) -> str:
    return f"answer to {request}"


async def answers(request: Any, context: Any) -> AsyncIterator[str]:
    yield f"first of {request}"
    yield f"second of {request}"


def deserialize(data: bytes) -> str:
    return data.decode()


def serialize(text: str) -> bytes:
    return text.encode()


KINDS = [
    ("unary_unary", grpc.unary_unary_rpc_method_handler, answer),
    ("stream_unary", grpc.stream_unary_rpc_method_handler, answer),
    ("unary_stream", grpc.unary_stream_rpc_method_handler, answers),
    ("stream_stream", grpc.stream_stream_rpc_method_handler, answers),
]


def unary(inner: Behaviour) -> Behaviour:
    async def call(request: Any, context: Any) -> Any:
        return ["unary", await inner(request, context)]

    return call


def streaming(inner: Behaviour) -> Behaviour:
    async def call(request: Any, context: Any) -> AsyncIterator[Any]:
        yield "streaming"
        async for item in inner(request, context):
            yield item

    return call


@pytest.mark.parametrize(("kind", "build", "behaviour"), KINDS, ids=[k[0] for k in KINDS])
async def test_each_kind_keeps_its_kind_and_serializers_and_runs_the_wrapper(
    kind: str, build: Callable[..., grpc.RpcMethodHandler], behaviour: Behaviour
) -> None:
    handler = build(behaviour, deserialize, serialize)

    wrapped = wrap_handler(handler, unary, streaming)

    assert (wrapped.request_streaming, wrapped.response_streaming) == (
        handler.request_streaming,
        handler.response_streaming,
    )
    assert [k for k, *_ in KINDS if getattr(wrapped, k) is not None] == [kind]
    assert wrapped.request_deserializer is deserialize
    assert wrapped.response_serializer is serialize
    run = getattr(wrapped, kind)
    if handler.response_streaming:
        assert [item async for item in run("q", None)] == ["streaming", "first of q", "second of q"]
    else:
        assert await run("q", None) == ["unary", "answer to q"]


def test_the_request_deserializer_passes_through_the_given_function() -> None:
    handler = grpc.unary_unary_rpc_method_handler(answer, deserialize, serialize)

    def shouting(inner: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
        assert inner is deserialize
        return lambda data: data.decode().upper()

    wrapped = wrap_handler(handler, unary, streaming, deserializer=shouting)

    assert wrapped.request_deserializer(b"hi") == "HI"
    assert wrapped.response_serializer is serialize
