"""What a folder holds, from one listing and the detail objects' metadata: for each invoice its
key, the fingerprint of the list row its latest detail version was stored from, whether it is
complete and how many detail versions there are (`ListStored`). No body is read.

A detail object carries two metadata entries (GCS custom metadata; user xattrs locally):
- `gdtmesh-fingerprint`: the list row's fingerprint the write came with (absent when the write
  had none, or the object predates fingerprints: read back as "");
- `gdtmesh-has-original`: `true` when the write carried an original XML, else `false` (absent
  on objects stored before this metadata existed).

Complete means a detail is stored and, when its original is known to exist or cannot be known
to be absent, an XML too:
- the latest detail says `true`: complete when an XML (any version) of the invoice is stored;
- it says `false`: complete with the detail alone;
- it says nothing (stored before the metadata): complete only when an XML is stored, because
  telling "no original" apart from "original lost" would need the detail's `hsgoc`, a read.
  Such an invoice without an original is downloaded once more; the rewrite finds the content
  already stored and gives it the metadata, after which it is complete.
An XML without any detail (a write that died in between) is listed too, incomplete, with 0
versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.storage.layout import month_folder, parse_invoice_name
from services.storage.objects import ObjectInfo, ObjectStore
from services.storage.reconcile import Key

FINGERPRINT = "gdtmesh-fingerprint"
HAS_ORIGINAL = "gdtmesh-has-original"


@dataclass(frozen=True)
class StoredInvoice:
    key: Key
    fingerprint: str
    complete: bool
    versions: int


def detail_metadata(fingerprint: str, has_original: bool) -> dict[str, str]:
    """The metadata a detail is written with. An empty fingerprint is left out, so a write that
    does not know the row never erases a known fingerprint."""
    metadata = {HAS_ORIGINAL: "true" if has_original else "false"}
    if fingerprint:
        metadata[FINGERPRINT] = fingerprint
    return metadata


@dataclass
class _Held:
    details: dict[int, ObjectInfo] = field(default_factory=dict)  # by version
    has_xml: bool = False


async def list_stored(
    store: ObjectStore, bucket: str, company: str, flow_code: str, year: int, month: int
) -> list[StoredInvoice]:
    """Every invoice of the folder, once, in key order; objects not named by the layout are
    ignored (a layout name under the folder's prefix is of the folder)."""
    prefix = month_folder(company, flow_code, year, month)
    held: dict[Key, _Held] = {}
    for info in await store.list_objects(bucket, prefix):
        parsed = parse_invoice_name(info.name)
        if parsed is None:
            continue
        place = parsed.place
        entry = held.setdefault((place.seller, place.form, place.series, place.number), _Held())
        if parsed.ext == "xml":
            entry.has_xml = True
        else:
            entry.details[parsed.version] = info
    return [_summary(key, held[key]) for key in sorted(held)]


def _summary(key: Key, held: _Held) -> StoredInvoice:
    if not held.details:
        return StoredInvoice(key, "", complete=False, versions=0)
    metadata: Mapping[str, str] = held.details[max(held.details)].metadata
    has_original = metadata.get(HAS_ORIGINAL)
    complete = held.has_xml or has_original == "false"
    return StoredInvoice(key, metadata.get(FINGERPRINT, ""), complete, len(held.details))
