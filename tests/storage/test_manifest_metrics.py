"""What manifests tell an operator's alerts: the invoices imports could not store, and imports
complete or with failures, counted once per manifest (a retried write counts nothing)."""

from __future__ import annotations

from google.protobuf import timestamp_pb2
from prometheus_client import REGISTRY
from storage_helpers import COMPANY, FLOW, Harness, key

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.storage.v1 import storage_pb2


def failed_value() -> float:
    return REGISTRY.get_sample_value("gdtmesh_invoices_failed_total") or 0.0


def reported(result: str) -> float:
    return REGISTRY.get_sample_value("gdtmesh_imports_reported_total", {"result": result}) or 0.0


def report(import_id: str, failed: int) -> storage_pb2.WriteManifestRequest:
    return storage_pb2.WriteManifestRequest(
        company_tax_code=COMPANY,
        import_id=import_id,
        start_time=timestamp_pb2.Timestamp(seconds=1_759_200_000),
        periods=[
            storage_pb2.PeriodReport(
                flow=FLOW,
                month=invoice_pb2.YearMonth(year=2025, month=9),
                portal_total=failed,
                discovered=failed,
                failed=[
                    storage_pb2.FailedInvoice(key=key(40 + n), reason="portal 500 after 5 tries")
                    for n in range(failed)
                ],
            )
        ],
    )


async def test_failed_invoices_and_imports_are_counted_once(harness: Harness) -> None:
    before = failed_value(), reported("with_failures"), reported("complete")

    await harness.stub.WriteManifest(report("imp-metrics-1", failed=2), timeout=30)
    await harness.stub.WriteManifest(report("imp-metrics-1", failed=2), timeout=30)  # a retry
    await harness.stub.WriteManifest(report("imp-metrics-2", failed=0), timeout=30)

    after = failed_value(), reported("with_failures"), reported("complete")
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]
