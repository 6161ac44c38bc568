"""GetManifest: a task's manifest read from the bucket through the storage service, for the
task's tenant only."""

from __future__ import annotations

import grpc

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.import_contract import MANIFEST_COUNTS
from gdtmesh.runtime.errors import ServiceError
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from services.gateway.tasks import Tasks


class Manifests:
    def __init__(
        self, tasks: Tasks, storage: storage_pb2_grpc.StorageServiceStub, timeout: float = 10.0
    ) -> None:
        self._tasks = tasks
        self._storage = storage
        self._timeout = timeout

    async def get(self, tenant: str, task_id: str) -> gateway_pb2.GetManifestResponse:
        memo = await self._tasks.memo(tenant, task_id)
        request = storage_pb2.ReadManifestRequest(
            bucket=str(memo.get("bucket", "")),
            company_tax_code=str(memo.get("company_tax_code", "")),
            import_id=task_id,
        )
        try:
            reply = await self._storage.ReadManifest(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            raise _refusal(error) from None
        return gateway_pb2.GetManifestResponse(
            manifest_object=reply.manifest.name, periods=[_period(p) for p in reply.periods]
        )


def _period(report: storage_pb2.PeriodReport) -> gateway_pb2.ManifestPeriod:
    period = gateway_pb2.ManifestPeriod(flow=report.flow, month=report.month)
    for name in MANIFEST_COUNTS:
        setattr(period.counts, name, getattr(report, name))
    period.counts.failed = len(report.failed)
    period.failed.extend(
        gateway_pb2.FailedInvoice(key=failure.key, reason=failure.reason)
        for failure in report.failed
    )
    return period


def _refusal(error: grpc.aio.AioRpcError) -> ServiceError:
    if error.code() == grpc.StatusCode.NOT_FOUND:
        return ServiceError(
            grpc.StatusCode.FAILED_PRECONDITION, "the task has written no manifest yet"
        )
    return ServiceError(grpc.StatusCode.UNAVAILABLE, "the bucket is unavailable; retry later")
