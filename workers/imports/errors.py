"""gRPC status -> Temporal retry semantics, in one place.

A code that no retry can change (bad request, missing thing, wrong password, locked account,
unimplemented) is a non-retryable `ApplicationError`; a code that time can change (unavailable,
deadline, rate limit) is retryable, and a server's `google.rpc.RetryInfo` becomes the next
retry's delay. Other codes (DATA_LOSS, INTERNAL, UNKNOWN, ABORTED, ...) are retried too: the
activity's retry policy bounds them. The error type is the gRPC code name, so callers can tell
cases apart without parsing messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import grpc
from google.rpc import error_details_pb2, status_pb2
from temporalio.exceptions import ApplicationError

from gdtmesh.runtime.errors import retry_delay

NON_RETRYABLE = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def call_failure(
    what: str,
    code: grpc.StatusCode,
    text: str,
    delay: timedelta | None = None,
    *,
    secrets: Iterable[str] = (),
) -> ApplicationError:
    """The activity error for a failed call; `secrets` are masked out of the message."""
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    non_retryable = code in NON_RETRYABLE
    return ApplicationError(
        f"{what}: {code.name}: {text}" if text else f"{what}: {code.name}",
        type=code.name,
        non_retryable=non_retryable,
        next_retry_delay=None if non_retryable else delay,
    )


def rpc_failure(
    what: str, error: grpc.aio.AioRpcError, *, secrets: Iterable[str] = ()
) -> ApplicationError:
    """The activity error for a failed RPC (the whole call failed)."""
    return call_failure(
        what, error.code(), error.details() or "", retry_delay(error), secrets=secrets
    )


def status_failure(what: str, status: status_pb2.Status) -> ApplicationError:
    """The activity error for a per-item `google.rpc.Status` inside a response."""
    code = _BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    return call_failure(what, code, status.message, _status_retry_delay(status))


def _status_retry_delay(status: status_pb2.Status) -> timedelta | None:
    for holder in status.details:
        if holder.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            holder.Unpack(info)
            return info.retry_delay.ToTimedelta()
    return None
