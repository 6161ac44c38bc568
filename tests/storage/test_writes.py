"""Idempotent, versioned invoice writes, against both backends through the gRPC service."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import google_crc32c
import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from storage_helpers import (
    FOLDER,
    MAX_OBJECT_BYTES,
    SELLER,
    Harness,
    detail,
    field_violations,
    new_bucket,
    write_request,
)

from gdtmesh.storage.v1 import storage_pb2
from services.storage import layout
from services.storage.objects import Digest

WRITTEN = storage_pb2.WRITE_OUTCOME_WRITTEN
ALREADY = storage_pb2.WRITE_OUTCOME_ALREADY_STORED
NEW_VERSION = storage_pb2.WRITE_OUTCOME_NEW_VERSION


async def test_first_write_lands_in_the_layout_with_verified_hashes(harness: Harness) -> None:
    response = await harness.write(write_request())

    assert response.detail.name == FOLDER + f"{SELLER}-1-K25TEK-5104.json"
    assert response.original.name == FOLDER + f"{SELLER}-1-K25TEK-5104.xml"
    assert response.detail.outcome == response.original.outcome == WRITTEN
    body = detail()
    assert response.detail.size == len(body)
    assert response.detail.md5 == base64.b64encode(hashlib.md5(body).digest()).decode()
    crc = google_crc32c.Checksum(body).digest()
    assert response.detail.crc32c == base64.b64encode(crc).decode()
    assert response.detail.generation > 0
    assert await harness.store.read(harness.bucket, response.detail.name) == body
    assert await harness.names() == [response.detail.name, response.original.name]


async def test_a_rerun_writes_no_new_object(harness: Harness) -> None:
    requests = [write_request(number) for number in (11, 12, 13)]
    first = [await harness.write(request) for request in requests]
    before = await harness.store.list_objects(harness.bucket, "gdt_invoices/")

    again = [await harness.write(request) for request in requests]

    assert await harness.store.list_objects(harness.bucket, "gdt_invoices/") == before
    assert len(before) == 6
    for old, new in zip(first, again, strict=True):
        assert new.detail.outcome == new.original.outcome == ALREADY
        assert (new.detail.name, new.detail.generation) == (old.detail.name, old.detail.generation)
        assert new.original.generation == old.original.generation


async def test_a_retry_after_a_crash_before_the_acknowledgement_writes_no_duplicate(
    harness: Harness,
) -> None:
    # The crash: an earlier attempt stored both objects and died before answering.
    request = write_request(77)
    stem = FOLDER + f"{SELLER}-1-K25TEK-77"
    for ext, body in (("xml", request.original_xml), ("json", request.detail_json)):
        await harness.store.create_if_absent(
            harness.bucket, f"{stem}.{ext}", body, layout.CONTENT_TYPES[ext], Digest.of(body)
        )

    response = await harness.write(request)

    assert response.detail.outcome == response.original.outcome == ALREADY
    assert await harness.names() == [f"{stem}.json", f"{stem}.xml"]


async def test_a_crash_between_the_original_and_the_detail_is_completed_by_the_retry(
    harness: Harness,
) -> None:
    request = write_request(78)
    stem = FOLDER + f"{SELLER}-1-K25TEK-78"
    await harness.store.create_if_absent(
        harness.bucket,
        f"{stem}.xml",
        request.original_xml,
        "application/xml",
        Digest.of(request.original_xml),
    )

    response = await harness.write(request)

    assert response.original.outcome == ALREADY
    assert response.detail.outcome == WRITTEN
    assert await harness.names() == [f"{stem}.json", f"{stem}.xml"]


async def test_a_changed_invoice_keeps_every_version(harness: Harness) -> None:
    original = await harness.write(write_request(5))
    replaced = write_request(5, body=detail(5, tthai=4))  # later replaced on the portal
    changed = await harness.write(replaced)

    assert changed.detail.outcome == NEW_VERSION
    assert changed.detail.name == FOLDER + f"{SELLER}-1-K25TEK-5.v2.json"
    assert changed.original.outcome == ALREADY  # the signed original did not change
    assert changed.original.name == original.original.name
    assert await harness.store.read(harness.bucket, original.detail.name) == detail(5)

    # Each known content is recognised, whichever version holds it; a third content is v3.
    assert (await harness.write(write_request(5))).detail.outcome == ALREADY
    again = await harness.write(replaced)
    assert (again.detail.outcome, again.detail.name) == (ALREADY, changed.detail.name)
    third = await harness.write(write_request(5, body=detail(5, tthai=5)))
    assert (third.detail.outcome, third.detail.name) == (
        NEW_VERSION,
        FOLDER + f"{SELLER}-1-K25TEK-5.v3.json",
    )
    assert await harness.names(FOLDER + f"{SELLER}-1-K25TEK-5.") == [
        FOLDER + f"{SELLER}-1-K25TEK-5.json",
        FOLDER + f"{SELLER}-1-K25TEK-5.v2.json",
        FOLDER + f"{SELLER}-1-K25TEK-5.v3.json",
        FOLDER + f"{SELLER}-1-K25TEK-5.xml",
    ]


async def test_concurrent_writers_of_one_invoice_store_it_once(harness: Harness) -> None:
    request = write_request(90)
    responses = await asyncio.gather(*(harness.write(request) for _ in range(6)))

    outcomes = sorted(response.detail.outcome for response in responses)
    assert outcomes == [WRITTEN] + [ALREADY] * 5
    assert len(await harness.names()) == 2


async def test_concurrent_different_versions_each_get_their_own_name(harness: Harness) -> None:
    await harness.write(write_request(91))
    bodies = [detail(91, revision=index) for index in range(4)]
    responses = await asyncio.gather(
        *(harness.write(write_request(91, body=body)) for body in bodies)
    )

    names = sorted(response.detail.name for response in responses)
    assert names == [FOLDER + f"{SELLER}-1-K25TEK-91.v{n}.json" for n in (2, 3, 4, 5)]
    assert all(response.detail.outcome == NEW_VERSION for response in responses)
    for response, body in zip(responses, bodies, strict=True):
        assert await harness.store.read(harness.bucket, response.detail.name) == body


async def test_an_invoice_without_original_stores_only_its_detail(harness: Harness) -> None:
    request = write_request(3, with_xml=False)
    request.detail_json = detail(3, hsgoc=None)
    request.invoice.has_original = False

    response = await harness.write(request)

    assert not response.HasField("original")
    assert await harness.names() == [FOLDER + f"{SELLER}-1-K25TEK-3.json"]


async def test_oversize_bodies_are_refused_before_anything_is_written(harness: Harness) -> None:
    request = write_request(4)
    request.original_xml = b"<x>" + b"a" * MAX_OBJECT_BYTES + b"</x>"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.write(request)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(caught.value)
    assert set(violations) == {"original_xml"}
    assert f"exceeds the {MAX_OBJECT_BYTES}-byte object limit" in violations["original_xml"]
    assert await harness.names() == []


async def test_a_detail_of_another_invoice_is_refused(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.write(write_request(6, body=detail(7)))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "holds invoice 0102431848 1-K25TEK-7" in field_violations(caught.value)["detail_json"]
    assert await harness.names() == []


@pytest.mark.parametrize(
    "body, why",
    [
        (b"", "is required"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not valid UTF-8 JSON"),
        (b'{"nbmst": "0102431848", "khmshdon": 1, "khhdon": "K25TEK"}', "shdon is missing"),
    ],
)
async def test_a_detail_that_is_not_an_invoice_is_refused(
    harness: Harness, body: bytes, why: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.write(write_request(8, body=body))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert why in field_violations(caught.value)["detail_json"]


async def test_a_detail_issued_on_another_day_is_refused(harness: Harness) -> None:
    request = write_request(9)
    request.invoice.issue_date.day = 23

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.write(request)

    problem = field_violations(caught.value)["detail_json"]
    assert "issued 2025-09-22 (tdlap), not 2025-09-23" in problem


async def test_a_missing_bucket_is_not_found(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.write(write_request(10, bucket=new_bucket()))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "does not exist" in (caught.value.details() or "")


async def test_another_existing_bucket_can_be_named(harness: Harness) -> None:
    other = new_bucket()
    await harness.store.ensure_bucket(other)

    response = await harness.write(write_request(10, bucket=other))

    assert response.detail.outcome == WRITTEN
    assert await harness.names() == []
    assert len(await harness.store.list_objects(other, "gdt_invoices/")) == 2


async def test_every_bucket_call_is_a_traced_client_span(harness: Harness) -> None:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)  # type: ignore[attr-defined]
    try:
        await harness.write(write_request(12))
    finally:
        processor.shutdown()

    spans = [span for span in exporter.get_finished_spans() if span.name.startswith("storage-")]
    assert {span.name for span in spans} == {f"storage-{harness.kind} create_if_absent"}
    for span in spans:
        attributes = dict(span.attributes or {})
        assert attributes["storage.bucket"] == harness.bucket
        assert str(attributes["storage.object"]).startswith("gdt_invoices/")
        assert attributes["storage.outcome"] == "created"
        assert isinstance(attributes["storage.size"], int) and attributes["storage.size"] > 0
    assert all(span.parent is not None for span in spans)  # inside the RPC's server span
