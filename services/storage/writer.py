"""Create-only, versioned writes: the heart of storage's idempotency.

A write never replaces an object. When the name is taken, the stored hashes decide:
- some version of the name holds the same content -> ALREADY_STORED, nothing written (a retry,
  a rerun, or a retry after a crash between the write and its acknowledgement);
- every version differs -> the content is written as the next free version
  (`{stem}.v{n}.{ext}`, also create-only) -> NEW_VERSION. Two writers racing for the same
  version both stay safe: the loser sees the winner's object and starts over.

Custom metadata (the detail's fingerprint and whether it has an original, see `stored`) goes
with the content. Only the metadata of an object may change after the write: when content that
is already stored arrives with metadata that differs, the matching object's metadata is
replaced (conditionally, never its content), so a list row that changed without changing the
detail is recorded as seen.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
    store: ObjectStore,
    bucket: str,
    stem: str,
    ext: str,
    data: bytes,
    content_type: str,
    metadata: Mapping[str, str] | None = None,
) -> Stored:
    """Store `data` (with `metadata`) as `{stem}.{ext}`, or as a new version of it when that
    name holds other content; ALREADY_STORED when any version already holds exactly this
    content, whose metadata then takes the keys of `metadata`."""
    digest = Digest.of(data)
    wanted = dict(metadata or {})
    for _ in range(MAX_ROUNDS):
        first = versioned_name(stem, 1, ext)
        created = await store.create_if_absent(bucket, first, data, content_type, digest, wanted)
        if created is not None:
            return Stored(created, Outcome.WRITTEN)
        existing = await store.stat(bucket, first)  # the common case: a retry or a rerun
        if existing is not None and digest.matches(existing):
            return await _already_stored(store, bucket, existing, wanted)
        versions = await _versions(store, bucket, stem, ext)
        for info in versions.values():
            if digest.matches(info):
                return await _already_stored(store, bucket, info, wanted)
        if not versions:
            continue  # the first object vanished between the two calls: try again
        name = versioned_name(stem, max(versions) + 1, ext)
        created = await store.create_if_absent(bucket, name, data, content_type, digest, wanted)
        if created is not None:
            return Stored(created, Outcome.NEW_VERSION)
    raise _contended(stem, ext)


async def _already_stored(
    store: ObjectStore, bucket: str, info: ObjectInfo, wanted: dict[str, str]
) -> Stored:
    """`info` holds the content; give it the `wanted` metadata keys unless it has them. A
    concurrent update makes the replacement fail: look again, and give up after MAX_ROUNDS."""
    for _ in range(MAX_ROUNDS):
        merged = {**info.metadata, **wanted}
        if merged == info.metadata:
            return Stored(info, Outcome.ALREADY_STORED)
        replaced = await store.replace_metadata(bucket, info, merged)
        if replaced is not None:
            return Stored(replaced, Outcome.ALREADY_STORED)
        current = await store.stat(bucket, info.name)
        if current is None or current.generation != info.generation:
            break  # never happens to a create-only object; refuse to guess
        info = current
    stem, _, ext = info.name.rpartition(".")
    raise _contended(stem, ext)


def _contended(stem: str, ext: str) -> StoreUnavailableError:
    return StoreUnavailableError(f"too many concurrent writers for {stem}.{ext}; try again")


async def latest_version(store: ObjectStore, bucket: str, stem: str, ext: str) -> ObjectInfo | None:
    """The highest stored version of `{stem}.{ext}`, or None if there is none."""
    versions = await _versions(store, bucket, stem, ext)
    return versions[max(versions)] if versions else None


async def _versions(store: ObjectStore, bucket: str, stem: str, ext: str) -> dict[int, ObjectInfo]:
    """Every stored version of `{stem}.{ext}`, by version number."""
    found: dict[int, ObjectInfo] = {}
    for info in await store.list_objects(bucket, stem + "."):
        version = version_of(stem, ext, info.name)
        if version is not None:
            found[version] = info
    return found
