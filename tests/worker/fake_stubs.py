"""Fake gRPC stubs of the connector and storage services for activity tests: scripted answers,
real `grpc.aio.AioRpcError`s with rich status details, and a record of every request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import grpc

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.runtime.errors import ServiceError, retry_later
from gdtmesh.storage.v1 import storage_pb2


def rpc_error(error: ServiceError) -> grpc.aio.AioRpcError:
    """The client-side error a server raising `error` produces (details in trailing metadata)."""
    status = error.to_status()
    return grpc.aio.AioRpcError(
        status.code,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(*status.trailing_metadata),
        details=status.details,
    )


def failed(code: grpc.StatusCode, text: str) -> grpc.aio.AioRpcError:
    return rpc_error(ServiceError(code, text))


def rate_limited(seconds: float) -> grpc.aio.AioRpcError:
    return rpc_error(retry_later(timedelta(seconds=seconds), "portal budget exhausted"))


class FakeStream:
    """A server stream: yields the scripted messages, raising any error in the script."""

    def __init__(self, items: Sequence[Any]) -> None:
        self._items = items
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        for item in self._items:
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> bool:
        self.cancelled = True
        return True


@dataclass
class FakeConnector:
    session: gdt_connector_pb2.OpenSessionResponse | grpc.aio.AioRpcError = field(
        default_factory=lambda: gdt_connector_pb2.OpenSessionResponse(session_id="s-1")
    )
    pages: list[Any] = field(default_factory=list)  # ListInvoices script
    fetches: list[list[Any]] = field(default_factory=list)  # one FetchInvoices script per call
    requests: list[Any] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    streams: list[FakeStream] = field(default_factory=list)

    async def OpenSession(
        self,
        request: gdt_connector_pb2.OpenSessionRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> gdt_connector_pb2.OpenSessionResponse:
        self._note(request, timeout)
        if isinstance(self.session, BaseException):
            raise self.session
        return self.session

    def ListInvoices(
        self, request: gdt_connector_pb2.ListInvoicesRequest, timeout: float | None = None
    ) -> FakeStream:
        self._note(request, timeout)
        return self._stream(self.pages)

    def FetchInvoices(
        self, request: gdt_connector_pb2.FetchInvoicesRequest, timeout: float | None = None
    ) -> FakeStream:
        self._note(request, timeout)
        return self._stream(self.fetches.pop(0))

    def _note(self, request: Any, timeout: float | None) -> None:
        self.requests.append(request)
        self.timeouts.append(timeout)

    def _stream(self, items: Sequence[Any]) -> FakeStream:
        stream = FakeStream(items)
        self.streams.append(stream)
        return stream


def stored(outcome: int = storage_pb2.WRITE_OUTCOME_WRITTEN) -> storage_pb2.StoredObject:
    return storage_pb2.StoredObject(name="x", outcome=outcome)  # type: ignore[arg-type]


@dataclass
class FakeStorage:
    """Answers every WriteInvoice with `outcome` unless `errors` scripts a failure by series
    number, and records the requests."""

    outcome: int = storage_pb2.WRITE_OUTCOME_WRITTEN
    errors: dict[int, grpc.aio.AioRpcError] = field(default_factory=dict)  # invoice number
    writes: list[storage_pb2.WriteInvoiceRequest] = field(default_factory=list)
    manifests: list[storage_pb2.WriteManifestRequest] = field(default_factory=list)
    manifest_error: grpc.aio.AioRpcError | None = None
    timeouts: list[float | None] = field(default_factory=list)

    async def WriteInvoice(
        self,
        request: storage_pb2.WriteInvoiceRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.WriteInvoiceResponse:
        self.timeouts.append(timeout)
        error = self.errors.pop(request.invoice.key.number, None)
        if error is not None:
            raise error
        self.writes.append(request)
        reply = storage_pb2.WriteInvoiceResponse(detail=stored(self.outcome))
        if request.original_xml:
            reply.original.CopyFrom(stored(self.outcome))
        return reply

    async def WriteManifest(
        self,
        request: storage_pb2.WriteManifestRequest,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> storage_pb2.WriteManifestResponse:
        self.timeouts.append(timeout)
        if self.manifest_error is not None:
            raise self.manifest_error
        self.manifests.append(request)
        return storage_pb2.WriteManifestResponse(
            manifest=storage_pb2.StoredObject(name="gdt_invoices/x/manifests/m.json")
        )
