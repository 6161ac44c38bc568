"""The storage service's Prometheus metrics: bucket calls, and what the writes stored."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STORE_CALLS = Counter(
    "gdtmesh_storage_bucket_calls_total",
    "Calls to the bucket backend (gcs or local), by operation and outcome "
    "(created / exists, found / absent, ok, error).",
    ["backend", "operation", "outcome"],
)
STORE_SECONDS = Histogram(
    "gdtmesh_storage_bucket_call_duration_seconds",
    "Time a bucket call took (a resumable upload is one call).",
    ["backend", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INVOICES_STORED = Counter(
    "gdtmesh_storage_invoices_total",
    "Invoices written by WriteInvoice, by the detail's outcome "
    "(written, new_version, already_stored).",
    ["outcome"],
)
OBJECTS_STORED = Counter(
    "gdtmesh_storage_objects_total",
    "Objects by kind (detail, original, manifest) and outcome (written, new_version, "
    "already_stored).",
    ["kind", "outcome"],
)
BYTES_WRITTEN = Counter(
    "gdtmesh_storage_bytes_written_total",
    "Bytes of objects written to the bucket (already stored copies are not counted).",
    ["kind"],
)
INVOICES_FAILED = Counter(
    "gdtmesh_invoices_failed_total",
    "Invoices imports could not store, as their manifests report them (counted once, when a "
    "manifest is first written).",
)
IMPORTS_REPORTED = Counter(
    "gdtmesh_imports_reported_total",
    "Imports whose manifest was written, by result: complete (nothing failed) or with_failures.",
    ["result"],
)
for _result in ("complete", "with_failures"):
    IMPORTS_REPORTED.labels(_result)  # at 0 from the start
