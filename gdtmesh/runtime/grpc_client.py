"""Outgoing gRPC channels: traced, with sane keepalive and message limits. Every call site passes
its own deadline (`timeout=`); nothing here waits forever."""

from __future__ import annotations

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def open_channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target,
        interceptors=aio_client_interceptors(),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.enable_retries", 0),
        ],
    )
