"""Create-only, versioned writes: the heart of storage's idempotency.

A write never replaces an object. When the name is taken, the stored hashes decide:
- some version of the name holds the same content -> ALREADY_STORED, nothing written (a retry,
  a rerun, or a retry after a crash between the write and its acknowledgement);
- every version differs -> the content is written as the next free version
  (`{stem}.v{n}.{ext}`, also create-only) -> NEW_VERSION. Two writers racing for the same
  version both stay safe: the loser sees the winner's object and starts over.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from services.storage.layout import version_of, versioned_name
from services.storage.objects import Digest, ObjectInfo, ObjectStore, StoreUnavailableError

# Rounds of "create, find it taken, look again" before giving up on a contended name.
MAX_ROUNDS = 5


class Outcome(enum.Enum):
    WRITTEN = "written"
    ALREADY_STORED = "already_stored"
    NEW_VERSION = "new_version"


@dataclass(frozen=True)
class Stored:
    info: ObjectInfo
    outcome: Outcome


async def write_versioned(
    store: ObjectStore, bucket: str, stem: str, ext: str, data: bytes, content_type: str
) -> Stored:
    """Store `data` as `{stem}.{ext}`, or as a new version of it when that name holds other
    content; ALREADY_STORED when any version already holds exactly this content."""
    digest = Digest.of(data)
    for _ in range(MAX_ROUNDS):
        first = versioned_name(stem, 1, ext)
        created = await store.create_if_absent(bucket, first, data, content_type, digest)
        if created is not None:
            return Stored(created, Outcome.WRITTEN)
        existing = await store.stat(bucket, first)  # the common case: a retry or a rerun
        if existing is not None and digest.matches(existing):
            return Stored(existing, Outcome.ALREADY_STORED)
        versions = await _versions(store, bucket, stem, ext)
        for info in versions.values():
            if digest.matches(info):
                return Stored(info, Outcome.ALREADY_STORED)
        if not versions:
            continue  # the first object vanished between the two calls: try again
        name = versioned_name(stem, max(versions) + 1, ext)
        created = await store.create_if_absent(bucket, name, data, content_type, digest)
        if created is not None:
            return Stored(created, Outcome.NEW_VERSION)
    raise StoreUnavailableError(f"too many concurrent writers for {stem}.{ext}; try again")


async def _versions(store: ObjectStore, bucket: str, stem: str, ext: str) -> dict[int, ObjectInfo]:
    """Every stored version of `{stem}.{ext}`, by version number."""
    found: dict[int, ObjectInfo] = {}
    for info in await store.list_objects(bucket, stem + "."):
        version = version_of(stem, ext, info.name)
        if version is not None:
            found[version] = info
    return found
