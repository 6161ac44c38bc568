"""What the gateway's TaskService promises beyond its messages (`gdtmesh.gateway.v1`): the
gateway enforces it, its clients rely on it, both import it from here."""

from __future__ import annotations

from gdtmesh.gateway.v1 import gateway_pb2

MAX_START_BATCH = 500  # tasks per StartTasks call
# A task in one of these statuses never changes again.
FINISHED_STATUSES = frozenset(
    {
        gateway_pb2.TASK_STATUS_SUCCEEDED,
        gateway_pb2.TASK_STATUS_FAILED,
        gateway_pb2.TASK_STATUS_CANCELLED,
        gateway_pb2.TASK_STATUS_TERMINATED,
    }
)
