"""The Google Cloud Storage backend (google-cloud-storage; fake-gcs-server in development).

The library is synchronous: its calls run on a bounded thread pool. Creates use
`ifGenerationMatch=0` and send a CRC32C the server checks; the hashes the server reports back
are compared with ours as well, because fake-gcs-server does not check what it is sent.

Custom metadata (`ObjectInfo.metadata`) is the object's GCS `metadata`, sent with the create
and replaced by a patch conditional on the generation and metageneration it was read at
(fake-gcs-server ignores `ifMetagenerationMatch` and reports no metageneration after a patch;
real GCS enforces it).

Objects above 8 MiB go up as resumable uploads in 4 MiB chunks. fake-gcs-server ignores
`ifGenerationMatch` on resumable uploads (real GCS enforces it), so those are preceded by an
existence check: on the emulator only a race inside that window could still overwrite.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from services.storage.objects import (
    BlockingPool,
    BucketNotFoundError,
    Digest,
    IntegrityError,
    ObjectInfo,
    ObjectNotFoundError,
    StoreAccessError,
    StoreUnavailableError,
)

TIMEOUT = 60.0  # seconds per HTTP request
CHUNK_SIZE = 4 * 1024 * 1024  # resumable upload chunk (a multiple of 256 KiB)
MULTIPART_LIMIT = 8 * 1024 * 1024  # the library uploads larger objects as resumable uploads
_TRANSIENT: tuple[type[BaseException], ...] = (
    api_exceptions.TooManyRequests,
    api_exceptions.ServerError,
    requests.ConnectionError,
    requests.Timeout,
    auth_exceptions.TransportError,
)


def gcs_client(project: str, emulator_host: str | None) -> storage.Client:
    """A client for the real service (application default credentials) or, when
    `emulator_host` is set, for the emulator with anonymous credentials."""
    if emulator_host:
        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": emulator_host},
        )
    return storage.Client(project=project or None)


class GcsStore:
    def __init__(self, client: storage.Client, concurrency: int = 8) -> None:
        self._client = client
        self._pool = BlockingPool(concurrency, "storage-gcs")

    async def ensure_bucket(self, bucket: str) -> None:
        await self._call(bucket, self._ensure_bucket, bucket)

    async def create_if_absent(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        digest: Digest,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo | None:
        return await self._call(
            bucket, self._create_if_absent, bucket, name, data, content_type, digest, metadata
        )

    async def replace_metadata(
        self, bucket: str, info: ObjectInfo, metadata: Mapping[str, str]
    ) -> ObjectInfo | None:
        return await self._call(
            bucket, self._replace_metadata, bucket, info.name, info, dict(metadata)
        )

    async def stat(self, bucket: str, name: str) -> ObjectInfo | None:
        return await self._call(bucket, self._stat, bucket, name)

    async def read(self, bucket: str, name: str) -> bytes:
        return await self._call(bucket, self._read, bucket, name)

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        return await self._call(bucket, self._list, bucket, prefix)

    async def close(self) -> None:
        self._pool.close()
        self._client.close()  # type: ignore[no-untyped-call]

    async def _call(self, bucket: str, function: Callable[..., Any], *args: Any) -> Any:
        with _translated(bucket):
            return await self._pool.run(function, *args)

    # --- blocking implementations, run on the pool ---

    def _ensure_bucket(self, bucket: str) -> None:
        if self._client.lookup_bucket(bucket, timeout=TIMEOUT) is None:
            with suppress(api_exceptions.Conflict):  # created by someone else in between
                self._client.create_bucket(bucket, timeout=TIMEOUT)

    def _create_if_absent(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        digest: Digest,
        metadata: Mapping[str, str] | None,
    ) -> ObjectInfo | None:
        if len(data) > MULTIPART_LIMIT and self._stat(bucket, name) is not None:
            return None
        blob = self._client.bucket(bucket).blob(name, chunk_size=CHUNK_SIZE)
        if metadata:
            blob.metadata = dict(metadata)
        try:
            blob.upload_from_file(
                io.BytesIO(data),
                size=len(data),
                content_type=content_type,
                if_generation_match=0,
                checksum="crc32c",
                timeout=TIMEOUT,
            )
        except api_exceptions.PreconditionFailed:
            return None
        info = _describe(blob)
        if info.crc32c != digest.crc32c or not digest.matches(info):
            raise IntegrityError(
                f"{name} generation {info.generation}: the stored checksum differs from the "
                "content sent"
            )
        return info

    def _replace_metadata(
        self, bucket: str, name: str, info: ObjectInfo, metadata: dict[str, str]
    ) -> ObjectInfo | None:
        blob = self._client.bucket(bucket).blob(name, generation=info.generation)
        # A patch merges keys: the ones to drop are sent as None.
        blob.metadata = {key: None for key in info.metadata} | metadata
        try:
            blob.patch(
                if_generation_match=info.generation,
                if_metageneration_match=info.metageneration or None,
                timeout=TIMEOUT,
            )
        except (api_exceptions.PreconditionFailed, api_exceptions.NotFound):
            return None
        return _describe(blob)

    def _stat(self, bucket: str, name: str) -> ObjectInfo | None:
        blob = self._client.bucket(bucket).get_blob(name, timeout=TIMEOUT)
        return None if blob is None else _describe(blob)

    def _read(self, bucket: str, name: str) -> bytes:
        try:
            return self._client.bucket(bucket).blob(name).download_as_bytes(timeout=TIMEOUT)
        except api_exceptions.NotFound:
            raise ObjectNotFoundError(f"object {name!r} not found in bucket {bucket!r}") from None

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        blobs = self._client.list_blobs(bucket, prefix=prefix, timeout=TIMEOUT)
        return sorted((_describe(blob) for blob in blobs), key=lambda info: info.name)


def _describe(blob: storage.Blob) -> ObjectInfo:
    return ObjectInfo(
        name=blob.name or "",
        generation=int(blob.generation or 0),
        size=int(blob.size or 0),
        crc32c=blob.crc32c or "",
        md5=blob.md5_hash or "",
        metadata=dict(blob.metadata or {}),
        metageneration=int(blob.metageneration or 0),
    )


@contextmanager
def _translated(bucket: str) -> Iterator[None]:
    """Library exceptions -> the store's own, with messages that hold no request data."""
    try:
        yield
    except api_exceptions.NotFound:
        raise BucketNotFoundError(f"bucket {bucket!r} does not exist") from None
    except (api_exceptions.Forbidden, api_exceptions.Unauthorized, auth_exceptions.RefreshError):
        raise StoreAccessError(f"access to bucket {bucket!r} was refused") from None
    except auth_exceptions.DefaultCredentialsError:
        raise StoreAccessError("no Google Cloud credentials found for the GCS backend") from None
    except _TRANSIENT as error:
        raise StoreUnavailableError(
            f"GCS is unavailable for bucket {bucket!r} ({type(error).__name__})"
        ) from None
