"""Rich gRPC errors (google.rpc.Status with details) on both sides of a call.

Servers raise `ServiceError` from their logic; the shared server interceptor turns it into a
status with details (BadRequest, RetryInfo, ErrorInfo). Clients read the details back with
`retry_delay()` and `error_details()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

import grpc
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from gdtmesh import reasons

ERROR_DOMAIN = "gdtmesh.dev"


class ServiceError(Exception):
    """A failure with a gRPC code meant for the caller; `message` must hold no secret."""

    def __init__(
        self, code: grpc.StatusCode, message: str, details: Iterable[message.Message] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details)

    def to_status(self) -> grpc.Status:
        return rich_status(self.code, self.message, *self.details)


def rich_status(code: grpc.StatusCode, text: str, *details: message.Message) -> grpc.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = status_pb2.Status(code=code.value[0], message=text, details=packed)
    return rpc_status.to_status(status)


# Status details travel in gRPC trailers (a 16 KB limit on the client): a request with hundreds
# of bad fields names the first ones and counts the rest.
MAX_VIOLATIONS = 20
MAX_DESCRIPTION_CHARS = 200


def bad_request(violations: Mapping[str, str], text: str = "invalid request") -> ServiceError:
    """INVALID_ARGUMENT naming each bad field (`field` -> what is wrong), the first
    MAX_VIOLATIONS of them."""
    shown = {
        field[:MAX_DESCRIPTION_CHARS]: why[:MAX_DESCRIPTION_CHARS]
        for field, why in list(violations.items())[:MAX_VIOLATIONS]
    }
    if len(violations) > MAX_VIOLATIONS:
        shown["..."] = f"{len(violations) - MAX_VIOLATIONS} more violations not shown"
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=why)
            for field, why in shown.items()
        ]
    )
    summary = "; ".join(f"{field}: {why}" for field, why in shown.items())
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, f"{text}: {summary}", [detail])


def retry_later(delay: timedelta, text: str, reason: str = reasons.RATE_LIMITED) -> ServiceError:
    """RESOURCE_EXHAUSTED with RetryInfo: the caller should come back after `delay`."""
    seconds = max(delay.total_seconds(), 0.0)
    retry = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(
            seconds=int(seconds), nanos=int((seconds - int(seconds)) * 1e9)
        )
    )
    info = error_info(reason)
    return ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, text, [retry, info])


def error_info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)


def error_details(error: grpc.RpcError) -> list[message.Message]:
    """Unpack the known detail messages of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    unpacked: list[message.Message] = []
    for holder in status.details:
        for kind in (
            error_details_pb2.RetryInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.ErrorInfo,
        ):
            if holder.Is(kind.DESCRIPTOR):
                detail = kind()
                holder.Unpack(detail)
                unpacked.append(detail)
    return unpacked


def retry_delay(error: grpc.RpcError) -> timedelta | None:
    """The RetryInfo delay a server attached to a failed call, if any."""
    for detail in error_details(error):
        if isinstance(detail, error_details_pb2.RetryInfo):
            return detail.retry_delay.ToTimedelta()
    return None


def status_from_error(error: ServiceError) -> status_pb2.Status:
    """A google.rpc.Status message for per-item errors inside a response."""
    packed = []
    for detail in error.details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=packed)
