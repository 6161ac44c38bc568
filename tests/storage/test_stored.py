"""ListStored and the detail metadata it is told from (fingerprint, has an original), against
both backends through the gRPC service."""

from __future__ import annotations

import os
from collections.abc import Mapping

import grpc
import pytest
from storage_helpers import (
    COMPANY,
    FLOW,
    FOLDER,
    SELLER,
    Harness,
    detail,
    field_violations,
    key,
    write_request,
    xml,
)

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.storage.v1 import storage_pb2
from services.storage.local_store import LocalStore
from services.storage.objects import ObjectInfo

ALREADY = storage_pb2.WRITE_OUTCOME_ALREADY_STORED
NEW_VERSION = storage_pb2.WRITE_OUTCOME_NEW_VERSION
OTHER_SELLER = "0320070711-003"
STEM = f"{FOLDER}{SELLER}-1-K25TEK-"


def stored(
    number: int, fingerprint: str, complete: bool, versions: int = 1, seller: str = SELLER
) -> storage_pb2.StoredInvoice:
    return storage_pb2.StoredInvoice(
        key=key(number, seller=seller),
        fingerprint=fingerprint,
        complete=complete,
        versions=versions,
    )


async def list_stored(harness: Harness, month: int = 9) -> list[storage_pb2.StoredInvoice]:
    request = storage_pb2.ListStoredRequest(
        company_tax_code=COMPANY, flow=FLOW, month=invoice_pb2.YearMonth(year=2025, month=month)
    )
    return list((await harness.stub.ListStored(request, timeout=30)).invoices)


async def stat(harness: Harness, name: str) -> ObjectInfo:
    info = await harness.store.stat(harness.bucket, name)
    assert info is not None
    return info


async def test_an_empty_folder_holds_nothing(harness: Harness) -> None:
    await harness.write(write_request(1))  # another month's folder

    assert await list_stored(harness, month=10) == []


async def test_invoices_with_and_without_original_are_listed_in_key_order(
    harness: Harness,
) -> None:
    await harness.write(write_request(20, fingerprint="0000000000b2"))
    await harness.write(
        write_request(3, with_xml=False, body=detail(3, hsgoc=None), fingerprint="0000000000a1")
    )
    await harness.write(write_request(7))  # a writer that knows no fingerprint

    assert await list_stored(harness) == [
        stored(3, "0000000000a1", complete=True),
        stored(7, "", complete=True),
        stored(20, "0000000000b2", complete=True),
    ]


async def test_the_metadata_is_kept_with_the_detail_only(harness: Harness) -> None:
    await harness.write(write_request(1, fingerprint="3f9a0c51d2e7"))
    await harness.write(write_request(2, with_xml=False, body=detail(2, hsgoc=None)))

    with_xml = await stat(harness, STEM + "1.json")
    assert with_xml.metadata == {
        "gdtmesh-fingerprint": "3f9a0c51d2e7",
        "gdtmesh-has-original": "true",
    }
    assert (await stat(harness, STEM + "2.json")).metadata == {"gdtmesh-has-original": "false"}
    assert (await stat(harness, STEM + "1.xml")).metadata == {}
    # Nothing beside the bodies: the metadata is never an object of its own.
    assert await harness.names() == [STEM + "1.json", STEM + "1.xml", STEM + "2.json"]
    if isinstance(harness.store, LocalStore):
        path = harness.store._path(harness.bucket, STEM + "1.json")
        assert os.getxattr(path, "user.gdtmesh-fingerprint") == b"3f9a0c51d2e7"


async def test_a_new_version_carries_the_new_fingerprint(harness: Harness) -> None:
    await harness.write(write_request(5, fingerprint="00000000000a"))
    changed = write_request(5, body=detail(5, tthai=4), fingerprint="00000000000b")

    response = await harness.write(changed)

    assert response.detail.outcome == NEW_VERSION
    assert await list_stored(harness) == [stored(5, "00000000000b", complete=True, versions=2)]
    first = await stat(harness, STEM + "5.json")
    assert first.metadata["gdtmesh-fingerprint"] == "00000000000a"


async def test_an_identical_rewrite_with_a_new_fingerprint_updates_the_metadata_only(
    harness: Harness,
) -> None:
    await harness.write(write_request(6, fingerprint="00000000000a"))
    before = await stat(harness, STEM + "6.json")

    response = await harness.write(write_request(6, fingerprint="00000000000b"))

    assert response.detail.outcome == ALREADY
    after = await stat(harness, STEM + "6.json")
    assert after.metadata["gdtmesh-fingerprint"] == "00000000000b"
    assert (after.generation, after.md5, after.size) == (before.generation, before.md5, before.size)
    assert await harness.store.read(harness.bucket, STEM + "6.json") == detail(6)
    assert await list_stored(harness) == [stored(6, "00000000000b", complete=True)]


async def test_a_rewrite_without_a_fingerprint_keeps_the_known_one(harness: Harness) -> None:
    await harness.write(write_request(8, with_xml=False, fingerprint="00000000000a"))

    await harness.write(write_request(8))  # the XML arrives, from a writer without fingerprint

    assert (await stat(harness, STEM + "8.json")).metadata == {
        "gdtmesh-fingerprint": "00000000000a",
        "gdtmesh-has-original": "true",
    }


async def test_a_metadata_update_that_loses_a_race_looks_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.write(write_request(6, fingerprint="00000000000a"))
    replace = harness.store.replace_metadata
    raced: list[str] = []

    async def racing(bucket: str, info: ObjectInfo, metadata: Mapping[str, str]) -> object:
        if not raced:  # another writer updates it first: this attempt is refused
            raced.append(info.name)
            await replace(bucket, info, {**info.metadata, "gdtmesh-fingerprint": "00000000000c"})
            return None
        return await replace(bucket, info, metadata)

    monkeypatch.setattr(harness.store, "replace_metadata", racing)

    await harness.write(write_request(6, fingerprint="00000000000b"))

    assert raced == [STEM + "6.json"]
    assert (await stat(harness, STEM + "6.json")).metadata["gdtmesh-fingerprint"] == "00000000000b"


async def test_metadata_decided_on_a_stale_read_is_not_replaced(harness: Harness) -> None:
    if harness.kind == "gcs":
        pytest.skip("fake-gcs-server ignores ifMetagenerationMatch (real GCS enforces it)")
    await harness.write(write_request(6, fingerprint="00000000000a"))
    read = await stat(harness, STEM + "6.json")
    assert await harness.store.replace_metadata(harness.bucket, read, {"x": "1"}) is not None

    stale = await harness.store.replace_metadata(harness.bucket, read, {"x": "2"})

    assert stale is None
    assert (await stat(harness, STEM + "6.json")).metadata == {"x": "1"}


async def test_an_invoice_whose_original_is_missing_is_not_complete(harness: Harness) -> None:
    await harness.write(write_request(9, fingerprint="00000000000a"))
    harness.delete(STEM + "9.xml")
    await harness.put(STEM + "10.xml", xml(10))  # a write that died before its detail

    assert await list_stored(harness) == [
        stored(9, "00000000000a", complete=False),
        stored(10, "", complete=False, versions=0),
    ]


async def test_objects_stored_before_the_metadata_are_complete_only_with_an_xml(
    harness: Harness,
) -> None:
    await harness.put(STEM + "1.json", detail(1))
    await harness.put(STEM + "1.xml", xml(1))
    await harness.put(STEM + "2.json", detail(2, hsgoc=None))

    assert await list_stored(harness) == [stored(1, "", True), stored(2, "", False)]

    # Downloaded again: the content is already stored, and now it says it has no original.
    rewrite = write_request(
        2, with_xml=False, body=detail(2, hsgoc=None), fingerprint="0000000000c3"
    )
    assert (await harness.write(rewrite)).detail.outcome == ALREADY
    assert (await list_stored(harness))[1] == stored(2, "0000000000c3", complete=True)


async def test_twins_of_two_sellers_are_two_invoices(harness: Harness) -> None:
    await harness.write(write_request(1, fingerprint="00000000000a"))
    twin = write_request(1, seller=OTHER_SELLER, body=detail(1, seller=OTHER_SELLER))
    twin.invoice.fingerprint = "0000000000b0"
    await harness.write(twin)

    assert await list_stored(harness) == [
        stored(1, "00000000000a", complete=True),
        stored(1, "0000000000b0", complete=True, seller=OTHER_SELLER),
    ]


async def test_names_outside_the_layout_are_ignored(harness: Harness) -> None:
    await harness.write(write_request(1))
    await harness.put(FOLDER + "notes.json", b"{}")
    await harness.put(FOLDER + "1-K25TEK-2.json", detail(2))  # layout 1, without the seller
    await harness.put(FOLDER + f"sub/{SELLER}-1-K25TEK-3.json", detail(3))

    assert await list_stored(harness) == [stored(1, "", complete=True)]


async def test_one_listing_and_no_reads(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for number in (1, 2, 3):
        await harness.write(write_request(number))
    calls: list[str] = []
    list_objects = harness.store.list_objects

    async def counted(bucket: str, prefix: str) -> list[ObjectInfo]:
        calls.append(prefix)
        return await list_objects(bucket, prefix)

    async def refused(*args: object) -> None:
        raise AssertionError("ListStored must not read or stat an object")

    monkeypatch.setattr(harness.store, "list_objects", counted)
    monkeypatch.setattr(harness.store, "read", refused)
    monkeypatch.setattr(harness.store, "stat", refused)

    assert len(await list_stored(harness)) == 3
    assert calls == [FOLDER]


async def test_a_bad_fingerprint_is_refused(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.write(write_request(1, fingerprint="3F9A/../x"))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"invoice.fingerprint"}
    assert await harness.names() == []


async def test_bad_list_requests_are_refused(harness: Harness) -> None:
    request = storage_pb2.ListStoredRequest(
        bucket="../etc",
        company_tax_code="0188502672",
        flow=invoice_pb2.FLOW_UNSPECIFIED,
        month=invoice_pb2.YearMonth(year=2025, month=13),
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.ListStored(request, timeout=30)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(caught.value)) == {"bucket", "company_tax_code", "flow", "month"}
