"""What every bucket backend offers (`ObjectStore`), the object metadata they report and the
failures they raise. The versioning, manifest and reconcile logic is written against this
protocol only, so GCS and the local directory behave the same by construction."""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import google_crc32c
from opentelemetry import trace

from services.storage.metrics import STORE_CALLS, STORE_SECONDS

T = TypeVar("T")
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object, as GCS describes it (hashes base64, CRC32C big-endian), with its
    custom metadata (GCS `metadata`; user xattrs in the local backend) and the metageneration
    that a metadata update is conditional on (0 when the store does not report one)."""

    name: str
    generation: int
    size: int
    crc32c: str
    md5: str
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    metageneration: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Digest:
    """The hashes of content about to be written, to verify a write and compare with a stored
    object."""

    size: int
    crc32c: str
    md5: str

    @classmethod
    def of(cls, data: bytes) -> Digest:
        crc = google_crc32c.Checksum(data).digest()
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        return cls(len(data), base64.b64encode(crc).decode(), base64.b64encode(md5).decode())

    def matches(self, info: ObjectInfo) -> bool:
        """Same content. MD5 decides when the store reports one (GCS omits it for composite
        objects); CRC32C and size otherwise."""
        if self.size != info.size:
            return False
        if info.md5:
            return self.md5 == info.md5
        return self.crc32c == info.crc32c


class StoreError(Exception):
    """A bucket operation failed; the message names the bucket or object, never credentials."""


class BucketNotFoundError(StoreError):
    pass


class ObjectNotFoundError(StoreError):
    pass


class StoreUnavailableError(StoreError):
    """A transient failure (network, 429, 5xx): worth retrying."""


class StoreAccessError(StoreError):
    """The service's own credentials are refused: an operator must fix the deployment."""


class IntegrityError(StoreError):
    """Stored content does not match what was sent."""


class ObjectStore(Protocol):
    """A bucket backend. Every write is create-only: an existing object is never replaced."""

    async def ensure_bucket(self, bucket: str) -> None:
        """Create `bucket` when it does not exist."""

    async def create_if_absent(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        digest: Digest,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo | None:
        """Write `data` with its custom `metadata` under `name` only if no object exists there
        (GCS `ifGenerationMatch=0`), check the stored hashes against `digest` (IntegrityError if
        they differ) and describe the new object; None when an object already exists under the
        name. The content and the metadata appear together."""

    async def replace_metadata(
        self, bucket: str, info: ObjectInfo, metadata: Mapping[str, str]
    ) -> ObjectInfo | None:
        """Replace the custom metadata of the object `info` describes, never its content, only
        while its metadata is still the one `info` holds (GCS `ifMetagenerationMatch`); the
        updated object, or None when it changed or vanished meanwhile (look again)."""

    async def stat(self, bucket: str, name: str) -> ObjectInfo | None:
        """The object's metadata, or None when there is no such object."""

    async def read(self, bucket: str, name: str) -> bytes:
        """The object's content; ObjectNotFoundError when absent."""

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        """Every object whose name starts with `prefix`, in name order, with its metadata."""

    async def close(self) -> None:
        """Release threads and connections."""


class BlockingPool:
    """Runs blocking calls (google-cloud-storage, file IO) on a bounded thread pool, each in a
    client span, carrying the caller's context (trace, log fields) into the thread.

    The span and the metrics name the bucket, the object (or listed prefix), the outcome and the
    bytes a create wrote; by convention every call is `function(bucket, name_or_prefix, ...)`."""

    def __init__(self, workers: int, name: str) -> None:
        self._name = name
        self._backend = name.rpartition("-")[2]
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    async def run(self, function: Callable[..., T], bucket: str, *args: object) -> T:
        """`function(bucket, *args)` on the pool."""
        operation = function.__name__.strip("_")
        started = time.perf_counter()
        outcome = "error"
        with _tracer.start_as_current_span(
            f"{self._name} {operation}",
            kind=trace.SpanKind.CLIENT,
            attributes=_call_attributes(operation, bucket, args),
            record_exception=False,
        ) as span:
            try:
                context = contextvars.copy_context()
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._executor, context.run, function, bucket, *args
                )
                outcome = _outcome(operation, result)
                span.set_attributes(_result_attributes(result))
                return result
            except Exception as error:
                span.set_attribute("error.type", type(error).__name__)
                span.set_status(trace.StatusCode.ERROR, type(error).__name__)
                raise
            finally:
                span.set_attribute("storage.outcome", outcome)
                elapsed = time.perf_counter() - started
                STORE_CALLS.labels(self._backend, operation, outcome).inc()
                STORE_SECONDS.labels(self._backend, operation).observe(elapsed)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


# Which attribute a call's second argument is; the rest name an object.
_TARGETS = {"list": "storage.prefix"}
# Outcomes of the calls whose None result means something (else "ok").
_NONE_MEANS = {
    "create_if_absent": ("created", "exists"),
    "stat": ("found", "absent"),
    "replace_metadata": ("replaced", "changed"),
}


def _outcome(operation: str, result: object) -> str:
    present, absent = _NONE_MEANS.get(operation, ("ok", "ok"))
    return absent if result is None else present


def _call_attributes(operation: str, bucket: str, args: tuple[object, ...]) -> dict[str, str]:
    attributes = {"storage.bucket": bucket}
    if args and isinstance(args[0], str):
        attributes[_TARGETS.get(operation, "storage.object")] = args[0]
    return attributes


def _result_attributes(result: object) -> dict[str, int]:
    attributes: dict[str, int] = {}
    if isinstance(result, ObjectInfo):
        attributes["storage.generation"] = result.generation
        attributes["storage.size"] = result.size
    elif isinstance(result, list):
        attributes["storage.count"] = len(result)
    return attributes
