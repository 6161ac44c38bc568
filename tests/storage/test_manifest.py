"""Manifests: the import's account per flow and month plus what the bucket holds, written last,
create-only and versioned."""

from __future__ import annotations

import json

import grpc
import pytest
from google.protobuf import timestamp_pb2
from storage_helpers import COMPANY, FLOW, FOLDER, SELLER, Harness, key, write_request

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.storage.v1 import storage_pb2

MANIFESTS = f"gdt_invoices/{COMPANY}/manifests/"


def manifest_request(**changes: object) -> storage_pb2.WriteManifestRequest:
    request = storage_pb2.WriteManifestRequest(
        company_tax_code=COMPANY,
        import_id="imp-20250930-01",
        start_time=timestamp_pb2.Timestamp(seconds=1_759_200_000),
        periods=[
            storage_pb2.PeriodReport(
                flow=FLOW,
                month=invoice_pb2.YearMonth(year=2025, month=9),
                portal_total=4,
                discovered=4,
                stored=2,
                already_stored=1,
                without_original=1,
                failed=[storage_pb2.FailedInvoice(key=key(40), reason="portal 500 after 5 tries")],
                changed=1,
                unchanged=5,
                new_invoices=2,
            ),
            storage_pb2.PeriodReport(
                flow=invoice_pb2.FLOW_SOLD_ELECTRONIC,
                month=invoice_pb2.YearMonth(year=2025, month=8),
            ),
        ],
    )
    for field, value in changes.items():
        setattr(request, field, value)
    return request


async def write_manifest(
    harness: Harness, request: storage_pb2.WriteManifestRequest
) -> storage_pb2.StoredObject:
    return (await harness.stub.WriteManifest(request, timeout=30)).manifest


async def test_the_manifest_accounts_for_every_period_and_object(harness: Harness) -> None:
    invoices = [await harness.write(write_request(n)) for n in (1, 2)]
    no_xml = write_request(3, with_xml=False)
    await harness.write(no_xml)

    stored = await write_manifest(harness, manifest_request())

    assert stored.name == MANIFESTS + "imp-20250930-01.json"
    assert stored.outcome == storage_pb2.WRITE_OUTCOME_WRITTEN
    document = json.loads(await harness.store.read(harness.bucket, stored.name))
    assert (document["schema"], document["layout_version"]) == ("gdtmesh.manifest.v2", 2)
    assert (document["import_id"], document["company_tax_code"]) == ("imp-20250930-01", COMPANY)
    assert document["bucket"] == harness.bucket
    assert document["start_time"] == "2025-09-30T02:40:00Z"
    august, september = document["periods"]  # in month order
    assert (august["flow"], august["month"], august["objects"]) == ("ban_ra_dien_tu", "2025-08", [])
    assert september["folder"] == FOLDER
    counts = {name: september[name] for name in ("portal_total", "discovered", "stored")}
    assert counts == {"portal_total": 4, "discovered": 4, "stored": 2}
    assert (september["already_stored"], september["without_original"]) == (1, 1)
    assert (september["changed"], september["unchanged"], september["new_invoices"]) == (1, 5, 2)
    assert (august["changed"], august["unchanged"], august["new_invoices"]) == (0, 0, 0)
    assert september["failed"] == [
        {
            "seller_tax_code": SELLER,
            "form": 1,
            "series": "K25TEK",
            "number": 40,
            "reason": "portal 500 after 5 tries",
        }
    ]
    stem = f"{FOLDER}{SELLER}-1-K25TEK-"
    assert september["invoices"] == [
        {
            "seller_tax_code": SELLER,
            "form": 1,
            "series": "K25TEK",
            "number": number,
            "detail": [f"{stem}{number}.json"],
            "original": [f"{stem}{number}.xml"] if number < 3 else [],
        }
        for number in (1, 2, 3)
    ]
    listed = {item["name"]: item for item in september["objects"]}
    assert (september["detail_objects"], september["original_objects"]) == (3, 2)
    for response in invoices:
        for part in (response.detail, response.original):
            entry = listed[part.name]
            assert (entry["generation"], entry["md5"], entry["crc32c"], entry["size"]) == (
                part.generation,
                part.md5,
                part.crc32c,
                part.size,
            )
    assert document["totals"] == {
        "portal_total": 4,
        "discovered": 4,
        "stored": 2,
        "already_stored": 1,
        "without_original": 1,
        "changed": 1,
        "unchanged": 5,
        "new_invoices": 2,
        "failed": 1,
        "objects": 5,
    }


async def test_rewriting_the_same_manifest_writes_nothing(harness: Harness) -> None:
    await harness.write(write_request(1))
    first = await write_manifest(harness, manifest_request())

    again = await write_manifest(harness, manifest_request())

    assert again.outcome == storage_pb2.WRITE_OUTCOME_ALREADY_STORED
    assert (again.name, again.generation) == (first.name, first.generation)
    assert await harness.names(MANIFESTS) == [first.name]


async def test_a_different_account_of_the_same_import_becomes_a_new_version(
    harness: Harness,
) -> None:
    first = await write_manifest(harness, manifest_request())
    await harness.write(write_request(1))  # the bucket changed since

    second = await write_manifest(harness, manifest_request())

    assert second.outcome == storage_pb2.WRITE_OUTCOME_NEW_VERSION
    assert second.name == MANIFESTS + "imp-20250930-01.v2.json"
    assert await harness.names(MANIFESTS) == [first.name, second.name]
    old = json.loads(await harness.store.read(harness.bucket, first.name))
    assert old["totals"]["objects"] == 0


async def test_a_manifest_reads_back_as_written_from_its_latest_version(harness: Harness) -> None:
    request = manifest_request()
    read = storage_pb2.ReadManifestRequest(company_tax_code=COMPANY, import_id=request.import_id)
    assert await rpc_code(harness.stub.ReadManifest(read)) == grpc.StatusCode.NOT_FOUND
    await write_manifest(harness, request)
    await harness.write(write_request(1))
    latest = await write_manifest(harness, request)  # a second version

    reply = await harness.stub.ReadManifest(read, timeout=30)

    assert (reply.manifest.name, reply.manifest.generation) == (latest.name, latest.generation)
    by_month = sorted(request.periods, key=lambda p: (p.month.year, p.month.month, p.flow))
    assert list(reply.periods) == by_month  # counts and failed invoices with their reasons
    read.import_id = "../other"
    assert await rpc_code(harness.stub.ReadManifest(read)) == grpc.StatusCode.INVALID_ARGUMENT


async def rpc_code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value.code()


async def test_the_manifest_is_written_after_the_folders_are_listed(harness: Harness) -> None:
    # Write-last: the listing is taken before the manifest exists, and each import's manifest
    # has its own name, so a manifest never lists itself or depends on another import's.
    await harness.write(write_request(1))
    await write_manifest(harness, manifest_request(import_id="imp-a"))
    stored = await write_manifest(harness, manifest_request(import_id="imp-b"))
    # The gateway's task ids, flow codes joined by '+', are valid import ids.
    task_id = "demo:invoice-import:0106843521:20261001-20261031:ban_ra_dien_tu+mua_vao_dien_tu"
    await write_manifest(harness, manifest_request(import_id=task_id))

    document = json.loads(await harness.store.read(harness.bucket, stored.name))
    names = [item["name"] for period in document["periods"] for item in period["objects"]]
    assert names == [FOLDER + f"{SELLER}-1-K25TEK-1.json", FOLDER + f"{SELLER}-1-K25TEK-1.xml"]
    assert await harness.names(MANIFESTS) == [
        MANIFESTS + f"{task_id}.json",
        MANIFESTS + "imp-a.json",
        MANIFESTS + "imp-b.json",
    ]


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"import_id": "../other"}, "import_id"),
        ({"import_id": "a.v2"}, "import_id"),
        ({"import_id": ""}, "import_id"),
        ({"company_tax_code": "0188502672"}, "company_tax_code"),
        ({"bucket": "../etc"}, "bucket"),
    ],
)
async def test_bad_manifest_requests_are_refused(
    harness: Harness, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await write_manifest(harness, manifest_request(**changes))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field}:" in (caught.value.details() or "")
    assert await harness.names("gdt_invoices/") == []


async def test_bad_periods_are_refused(harness: Harness) -> None:
    request = manifest_request()
    request.periods[1].CopyFrom(request.periods[0])
    request.periods.add(flow=0, month={"year": 2025, "month": 13}, stored=-1)
    request.periods.add(flow=FLOW, month={"year": 2025, "month": 1}, changed=-1, unchanged=-2)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await write_manifest(harness, request)

    text = caught.value.details() or ""
    for field in (
        "periods[1]",
        "periods[2].flow",
        "periods[2].month",
        "periods[2].stored",
        "periods[3].changed",
        "periods[3].unchanged",
    ):
        assert f"{field}:" in text
    empty = manifest_request()
    del empty.periods[:]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await write_manifest(harness, empty)
    assert "periods: must hold at least one period" in (caught.value.details() or "")
