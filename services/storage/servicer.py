"""gdtmesh.storage.v1.StorageService: validates requests, calls the logic modules and maps
their results and failures to the proto and to gRPC codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import structlog

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.errors import ServiceError, bad_request
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from services.storage import layout, manifest, reconcile, stored, validation
from services.storage.metrics import (
    BYTES_WRITTEN,
    IMPORTS_REPORTED,
    INVOICES_FAILED,
    INVOICES_STORED,
    OBJECTS_STORED,
)
from services.storage.objects import (
    BucketNotFoundError,
    IntegrityError,
    ObjectInfo,
    ObjectNotFoundError,
    ObjectStore,
    StoreAccessError,
    StoreUnavailableError,
)
from services.storage.writer import Outcome, Stored, write_versioned

log = structlog.get_logger(__name__)

_OUTCOMES = {
    Outcome.WRITTEN: storage_pb2.WRITE_OUTCOME_WRITTEN,
    Outcome.ALREADY_STORED: storage_pb2.WRITE_OUTCOME_ALREADY_STORED,
    Outcome.NEW_VERSION: storage_pb2.WRITE_OUTCOME_NEW_VERSION,
}
_OUTCOME_NAMES = {proto: outcome.value for outcome, proto in _OUTCOMES.items()}
_KINDS = {"json": "detail", "xml": "original"}
_PROBLEMS = {
    reconcile.Problem.UNPARSEABLE_NAME: storage_pb2.RECONCILE_PROBLEM_UNPARSEABLE_NAME,
    reconcile.Problem.UNREADABLE_DETAIL: storage_pb2.RECONCILE_PROBLEM_UNREADABLE_DETAIL,
    reconcile.Problem.KEY_MISMATCH: storage_pb2.RECONCILE_PROBLEM_KEY_MISMATCH,
    reconcile.Problem.WRONG_MONTH: storage_pb2.RECONCILE_PROBLEM_WRONG_MONTH,
    reconcile.Problem.UNEXPECTED_ORIGINAL: storage_pb2.RECONCILE_PROBLEM_UNEXPECTED_ORIGINAL,
    reconcile.Problem.MISSING_ORIGINAL: storage_pb2.RECONCILE_PROBLEM_MISSING_ORIGINAL,
    reconcile.Problem.ORPHAN_ORIGINAL: storage_pb2.RECONCILE_PROBLEM_ORPHAN_ORIGINAL,
}


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    def __init__(self, store: ObjectStore, default_bucket: str, max_object_bytes: int) -> None:
        self._store = store
        self._default_bucket = default_bucket
        self._max_object_bytes = max_object_bytes

    async def WriteInvoice(
        self, request: storage_pb2.WriteInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.WriteInvoiceResponse:
        bucket = self._bucket(request.bucket)
        place = validation.check_write_invoice(request, self._max_object_bytes)
        response = storage_pb2.WriteInvoiceResponse()
        with _store_errors():
            # The original first: a detail's presence then means its original is stored too.
            if request.original_xml:
                original = await self._write(bucket, place.stem, "xml", request.original_xml)
                response.original.CopyFrom(original)
            metadata = stored.detail_metadata(
                request.invoice.fingerprint, has_original=bool(request.original_xml)
            )
            detail = await self._write(bucket, place.stem, "json", request.detail_json, metadata)
            response.detail.CopyFrom(detail)
        INVOICES_STORED.labels(_OUTCOME_NAMES[detail.outcome]).inc()
        log.debug("invoice stored", name=detail.name, outcome=detail.outcome)
        return response

    async def WriteManifest(
        self, request: storage_pb2.WriteManifestRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.WriteManifestResponse:
        manifest.check_request(request)
        bucket = self._bucket(request.bucket)
        with _store_errors():
            stored = await manifest.write_manifest(self._store, bucket, request)
        _count("manifest", stored)
        if stored.outcome != Outcome.ALREADY_STORED:  # a retried write reports nothing new
            _count_failures(request)
        log.info(
            "manifest written",
            import_id=request.import_id,
            name=stored.info.name,
            outcome=stored.outcome.value,
        )
        return storage_pb2.WriteManifestResponse(manifest=_stored_object(stored))

    async def ReadManifest(
        self, request: storage_pb2.ReadManifestRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.ReadManifestResponse:
        manifest.check_read(request)
        bucket = self._bucket(request.bucket)
        with _store_errors():
            info, periods = await manifest.read_manifest(
                self._store, bucket, request.company_tax_code, request.import_id
            )
        return storage_pb2.ReadManifestResponse(manifest=_object(info), periods=periods)

    async def Reconcile(
        self, request: storage_pb2.ReconcileRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.ReconcileResponse:
        validation.check_reconcile(request)
        bucket = self._bucket(request.bucket)
        expected = [
            (key.seller_tax_code, key.form, key.series, key.number) for key in request.expected
        ]
        with _store_errors():
            report = await reconcile.reconcile(self._store, bucket, *_folder(request), expected)
        return _reconcile_response(report)

    async def ListStored(
        self, request: storage_pb2.ListStoredRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.ListStoredResponse:
        validation.check_list_stored(request)
        bucket = self._bucket(request.bucket)
        with _store_errors():
            invoices = await stored.list_stored(self._store, bucket, *_folder(request))
        return storage_pb2.ListStoredResponse(
            invoices=[
                storage_pb2.StoredInvoice(
                    key=_key(invoice.key),
                    fingerprint=invoice.fingerprint,
                    complete=invoice.complete,
                    versions=invoice.versions,
                )
                for invoice in invoices
            ]
        )

    def _bucket(self, requested: str) -> str:
        if problem := layout.bucket_problem(requested):
            raise bad_request({"bucket": problem})
        return requested or self._default_bucket

    async def _write(
        self, bucket: str, stem: str, ext: str, data: bytes, metadata: dict[str, str] | None = None
    ) -> storage_pb2.StoredObject:
        written = await write_versioned(
            self._store, bucket, stem, ext, data, layout.CONTENT_TYPES[ext], metadata
        )
        _count(_KINDS[ext], written)
        return _stored_object(written)


def _folder(
    request: storage_pb2.ReconcileRequest | storage_pb2.ListStoredRequest,
) -> tuple[str, str, int, int]:
    """The validated folder a read request names: company, flow code, year, month."""
    return (
        request.company_tax_code,
        layout.flow_code(request.flow),
        request.month.year,
        request.month.month,
    )


def _count_failures(request: storage_pb2.WriteManifestRequest) -> None:
    failed = sum(len(period.failed) for period in request.periods)
    INVOICES_FAILED.inc(failed)
    IMPORTS_REPORTED.labels("with_failures" if failed else "complete").inc()


def _count(kind: str, stored: Stored) -> None:
    OBJECTS_STORED.labels(kind, stored.outcome.value).inc()
    if stored.outcome != Outcome.ALREADY_STORED:
        BYTES_WRITTEN.labels(kind).inc(stored.info.size)


def _stored_object(stored: Stored) -> storage_pb2.StoredObject:
    stored_object = _object(stored.info)
    stored_object.outcome = _OUTCOMES[stored.outcome]
    return stored_object


def _object(info: ObjectInfo) -> storage_pb2.StoredObject:
    return storage_pb2.StoredObject(
        name=info.name,
        generation=info.generation,
        crc32c=info.crc32c,
        md5=info.md5,
        size=info.size,
    )


def _key(key: reconcile.Key) -> invoice_pb2.InvoiceKey:
    seller, form, series, number = key
    return invoice_pb2.InvoiceKey(seller_tax_code=seller, form=form, series=series, number=number)


def _reconcile_response(report: reconcile.Report) -> storage_pb2.ReconcileResponse:
    return storage_pb2.ReconcileResponse(
        prefix=report.prefix,
        object_count=report.object_count,
        expected_count=report.expected_count,
        found_count=report.found_count,
        versioned_count=report.versioned_count,
        missing=[_key(key) for key in report.missing],
        duplicates=[
            storage_pb2.DuplicateInvoice(key=_key(key), names=names)
            for key, names in report.duplicates
        ],
        mismatched=[
            storage_pb2.MismatchedObject(
                name=item.name, problem=_PROBLEMS[item.problem], description=item.description
            )
            for item in report.mismatched
        ],
        extra=[storage_pb2.ExtraInvoice(key=_key(key), names=names) for key, names in report.extra],
    )


@contextmanager
def _store_errors() -> Iterator[None]:
    """Store failures -> gRPC codes. UNAVAILABLE is worth retrying; DATA_LOSS means a write
    did not arrive intact (retrying writes a fresh copy); the rest need a person."""
    try:
        yield
    except BucketNotFoundError as error:
        raise ServiceError(grpc.StatusCode.NOT_FOUND, str(error)) from None
    except ObjectNotFoundError as error:
        raise ServiceError(grpc.StatusCode.NOT_FOUND, str(error)) from None
    except StoreUnavailableError as error:
        raise ServiceError(grpc.StatusCode.UNAVAILABLE, str(error)) from None
    except StoreAccessError as error:
        raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION, str(error)) from None
    except IntegrityError as error:
        raise ServiceError(grpc.StatusCode.DATA_LOSS, str(error)) from None
