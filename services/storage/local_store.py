"""The local-directory backend: one folder per bucket under a root, one file per object.

Same semantics as GCS: a create is atomic and create-only (the content goes to a temporary
file, is fsynced and verified, then hard-linked into place with `os.link`, which fails when the
name exists), and the generation is derived from the content (first 63 bits of its MD5).

Custom metadata lives in the file's user extended attributes, `user.{key}` (e.g.
`user.gdtmesh-fingerprint`): set on the temporary file before the link, so the content and its
metadata appear together, and on the same inode, so they can never part or show up as objects
in a listing. A metadata replacement holds an exclusive `flock` on the file while it compares
the current attributes with the ones it was decided on (the local `ifMetagenerationMatch`).
A filesystem without user xattrs refuses metadata writes (StoreAccessError) and reads back
none.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import google_crc32c

from services.storage.objects import (
    BlockingPool,
    BucketNotFoundError,
    Digest,
    IntegrityError,
    ObjectInfo,
    ObjectNotFoundError,
    StoreAccessError,
)

TMP_DIR = ".gdtmesh-tmp"  # inside each bucket folder; never a valid object name prefix
CHUNK = 1024 * 1024
XATTR_PREFIX = "user."  # the only xattr namespace an unprivileged process may write


class LocalStore:
    def __init__(self, root: Path, concurrency: int = 8) -> None:
        self.root = root
        self._pool = BlockingPool(concurrency, "storage-local")

    async def ensure_bucket(self, bucket: str) -> None:
        await self._pool.run(self._ensure_bucket, bucket)

    async def create_if_absent(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        digest: Digest,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo | None:
        return await self._pool.run(
            self._create_if_absent, bucket, name, data, digest, dict(metadata or {})
        )

    async def replace_metadata(
        self, bucket: str, info: ObjectInfo, metadata: Mapping[str, str]
    ) -> ObjectInfo | None:
        return await self._pool.run(self._replace_metadata, bucket, info.name, info, dict(metadata))

    async def stat(self, bucket: str, name: str) -> ObjectInfo | None:
        return await self._pool.run(self._stat, bucket, name)

    async def read(self, bucket: str, name: str) -> bytes:
        return await self._pool.run(self._read, bucket, name)

    async def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        return await self._pool.run(self._list, bucket, prefix)

    async def close(self) -> None:
        self._pool.close()

    # --- blocking implementations, run on the pool ---

    def _bucket_dir(self, bucket: str) -> Path:
        folder = self.root / bucket
        if not folder.is_dir():
            raise BucketNotFoundError(f"bucket {bucket!r} does not exist")
        return folder

    def _path(self, bucket: str, name: str) -> Path:
        """The file of an object. Names are built from validated parts; this re-checks that
        none can leave the bucket folder, as a second line of defence."""
        parts = name.split("/")
        if not name or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise ValueError(f"unsafe object name {name[:80]!r}")
        return self._bucket_dir(bucket).joinpath(*parts)

    def _ensure_bucket(self, bucket: str) -> None:
        (self.root / bucket / TMP_DIR).mkdir(parents=True, exist_ok=True)

    def _create_if_absent(
        self, bucket: str, name: str, data: bytes, digest: Digest, metadata: dict[str, str]
    ) -> ObjectInfo | None:
        path = self._path(bucket, name)
        if path.exists():
            return None
        temp_dir = self._bucket_dir(bucket) / TMP_DIR
        temp_dir.mkdir(exist_ok=True)
        temp = temp_dir / uuid.uuid4().hex
        try:
            with open(temp, "xb") as out:
                for start in range(0, len(data), CHUNK):
                    out.write(data[start : start + CHUNK])
                out.flush()
                _set_metadata(out.fileno(), {}, metadata)
                os.fsync(out.fileno())
            info = _describe(temp, name)
            if not digest.matches(info) or info.crc32c != digest.crc32c:
                raise IntegrityError(f"{name}: written content does not match its checksum")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(temp, path)
            except FileExistsError:
                return None
            _fsync_dir(path.parent)
            return info
        finally:
            temp.unlink(missing_ok=True)

    def _replace_metadata(
        self, bucket: str, name: str, info: ObjectInfo, metadata: dict[str, str]
    ) -> ObjectInfo | None:
        path = self._path(bucket, name)
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor is closed
            current = _read_metadata(descriptor)
            if current != dict(info.metadata):
                return None
            _set_metadata(descriptor, current, metadata)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return _describe(path, name)

    def _stat(self, bucket: str, name: str) -> ObjectInfo | None:
        path = self._path(bucket, name)
        return _describe(path, name) if path.is_file() else None

    def _read(self, bucket: str, name: str) -> bytes:
        path = self._path(bucket, name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFoundError(f"object {name!r} not found in bucket {bucket!r}") from None

    def _list(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        bucket_dir = self._bucket_dir(bucket)
        *folders, _ = prefix.split("/")
        start = bucket_dir.joinpath(*folders)
        if not start.is_dir() or not start.resolve().is_relative_to(bucket_dir.resolve()):
            return []
        base = "/".join(folders) + "/" if folders else ""
        names = [name for name in self._walk(start, base) if name.startswith(prefix)]
        return [_describe(bucket_dir / name, name) for name in sorted(names)]

    def _walk(self, folder: Path, base: str) -> Iterator[str]:
        """Object names under `folder` (whose name is `base`), skipping hidden entries."""
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    yield from self._walk(Path(entry.path), f"{base}{entry.name}/")
                elif entry.is_file(follow_symlinks=False):
                    yield base + entry.name


def _describe(path: Path, name: str) -> ObjectInfo:
    crc = google_crc32c.Checksum()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            crc.update(chunk)
            md5.update(chunk)
            size += len(chunk)
        metadata = _read_metadata(source.fileno())
    md5_digest = md5.digest()
    return ObjectInfo(
        name=name,
        generation=int.from_bytes(md5_digest[:8], "big") >> 1,
        size=size,
        crc32c=base64.b64encode(crc.digest()).decode(),
        md5=base64.b64encode(md5_digest).decode(),
        metadata=metadata,
    )


def _read_metadata(descriptor: int) -> dict[str, str]:
    """The custom metadata of an open file: its `user.*` xattrs; none where unsupported."""
    try:
        names = os.listxattr(descriptor)
        return {
            name.removeprefix(XATTR_PREFIX): os.getxattr(descriptor, name).decode()
            for name in names
            if name.startswith(XATTR_PREFIX)
        }
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise


def _set_metadata(descriptor: int, current: dict[str, str], metadata: dict[str, str]) -> None:
    """Make the file's custom metadata `metadata` (it holds `current` now)."""
    try:
        for key in current.keys() - metadata.keys():
            os.removexattr(descriptor, XATTR_PREFIX + key)
        for key, value in metadata.items():
            if current.get(key) != value:
                os.setxattr(descriptor, XATTR_PREFIX + key, value.encode())
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise StoreAccessError(
                "the local storage directory's filesystem does not support user extended "
                "attributes, where object metadata is kept"
            ) from None
        raise


def _fsync_dir(folder: Path) -> None:
    """Make the new directory entry durable, not only the file's content."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
