"""gRPC status -> Temporal retry semantics, in one place.

A code that no retry can change (bad request, missing thing, wrong password, locked account,
unimplemented) is a non-retryable `ApplicationError`; a code that time can change (unavailable,
deadline, rate limit) is retryable, and a server's `google.rpc.RetryInfo` becomes the next
retry's delay. Other codes (DATA_LOSS, INTERNAL, UNKNOWN, ABORTED, ...) are retried too: the
activity's retry policy bounds them. The error type is the gRPC code name (or, for an expired
connector session, `SESSION_EXPIRED`), so callers tell cases apart without parsing messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import grpc
from google.protobuf import message
from google.rpc import error_details_pb2, status_pb2
from temporalio.exceptions import ApplicationError

from gdtmesh import reasons
from gdtmesh.runtime.errors import error_details

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
    reason: str = "",
    secrets: Iterable[str] = (),
) -> ApplicationError:
    """The activity error for a failed call (`reason`: the server's ErrorInfo reason);
    `secrets` are masked out of the message."""
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    non_retryable = code in NON_RETRYABLE
    expired = code == grpc.StatusCode.UNAUTHENTICATED and reason == reasons.SESSION_EXPIRED
    return ApplicationError(
        f"{what}: {code.name}: {text}" if text else f"{what}: {code.name}",
        type=reasons.SESSION_EXPIRED if expired else code.name,
        non_retryable=non_retryable,
        next_retry_delay=None if non_retryable else delay,
    )


def rpc_failure(
    what: str, error: grpc.aio.AioRpcError, *, secrets: Iterable[str] = ()
) -> ApplicationError:
    """The activity error for a failed RPC (the whole call failed)."""
    delay, reason = _hints(error_details(error))
    text = error.details() or ""
    return call_failure(what, error.code(), text, delay, reason=reason, secrets=secrets)


def status_failure(what: str, status: status_pb2.Status) -> ApplicationError:
    """The activity error for a per-item `google.rpc.Status` inside a response."""
    code = _BY_NUMBER.get(status.code, grpc.StatusCode.UNKNOWN)
    delay, reason = _hints(_unpack(status))
    return call_failure(what, code, status.message, delay, reason=reason)


def _hints(details: Iterable[message.Message]) -> tuple[timedelta | None, str]:
    """The RetryInfo delay and the ErrorInfo reason among a status's details."""
    delay, reason = None, ""
    for detail in details:
        if isinstance(detail, error_details_pb2.RetryInfo):
            delay = detail.retry_delay.ToTimedelta()
        elif isinstance(detail, error_details_pb2.ErrorInfo):
            reason = detail.reason
    return delay, reason


def _unpack(status: status_pb2.Status) -> list[message.Message]:
    unpacked: list[message.Message] = []
    for holder in status.details:
        for kind in (error_details_pb2.RetryInfo, error_details_pb2.ErrorInfo):
            if holder.Is(kind.DESCRIPTOR):
                detail = kind()
                holder.Unpack(detail)
                unpacked.append(detail)
    return unpacked
