"""The worker's settings, from GDTMESH_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from gdtmesh.import_contract import TASK_QUEUE
from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.config import Secret, check_target

_HOST_PORT_FIELDS = ("temporal_address", "gdt_connector_address", "storage_address")
MODES = ("base", "burst")
VERSIONING_BEHAVIORS = ("auto_upgrade", "pinned")
_POSITIVE_FIELDS = (
    "worker_max_concurrent_activities",
    "worker_max_concurrent_workflow_tasks",
    "worker_burst_max_concurrent_activities",
    "worker_burst_max_concurrent_workflow_tasks",
)


@dataclass(frozen=True)
class WorkerLimits:
    """How much a worker takes on at once: its mode's share of the machine."""

    max_concurrent_activities: int
    max_concurrent_workflow_tasks: int
    autoscale_pollers: bool  # burst: pollers grow with the backlog instead of a fixed five


@dataclass(frozen=True)
class WorkerConfig:
    codec_keys: Secret  # GDTMESH_CODEC_KEYS: `id:base64key,...`, the first one encrypts
    gdt_connector_address: (
        str  # GDTMESH_GDT_CONNECTOR_ADDRESS: host:port of gdtmesh.gdt_connector.v1
    )
    storage_address: str  # GDTMESH_STORAGE_ADDRESS: host:port of gdtmesh.storage.v1
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    # Modes: `base` is the steady footprint; `burst` (month-end, a backlog to clear) takes on
    # more at once on a bigger machine. The portal budget, shared in Redis, still paces them.
    worker_mode: str = "base"
    worker_max_concurrent_activities: int = 100
    worker_max_concurrent_workflow_tasks: int = 50
    worker_burst_max_concurrent_activities: int = 400
    worker_burst_max_concurrent_workflow_tasks: int = 200
    # Worker versioning: a deployment name and this build's id put the worker in a Temporal
    # Worker Deployment; empty means an unversioned worker.
    worker_deployment_name: str = ""
    worker_build_id: str = ""
    worker_versioning_behavior: str = "auto_upgrade"
    # Longest gap between heartbeats sent to Temporal: how soon a cancellation reaches a download.
    worker_heartbeat_throttle_seconds: float = 5.0
    worker_shutdown_grace_seconds: float = 30.0

    def __post_init__(self) -> None:
        parse_keys(self.codec_keys.reveal())  # ValueError names the problem, never the key
        for name in _HOST_PORT_FIELDS:
            check_target(f"GDTMESH_{name.upper()}", getattr(self, name))
        if not self.task_queue:
            raise ValueError("GDTMESH_TASK_QUEUE must not be empty")
        for name in _POSITIVE_FIELDS:
            if getattr(self, name) < 1:
                raise ValueError(f"GDTMESH_{name.upper()} must be at least 1")
        if self.worker_mode not in MODES:
            raise ValueError(f"GDTMESH_WORKER_MODE must be one of {', '.join(MODES)}")
        self._check_versioning()
        if self.worker_heartbeat_throttle_seconds <= 0:
            raise ValueError("GDTMESH_WORKER_HEARTBEAT_THROTTLE_SECONDS must be positive")
        if self.worker_shutdown_grace_seconds < 0:
            raise ValueError("GDTMESH_WORKER_SHUTDOWN_GRACE_SECONDS must not be negative")

    def _check_versioning(self) -> None:
        if bool(self.worker_deployment_name) != bool(self.worker_build_id):
            raise ValueError(
                "GDTMESH_WORKER_DEPLOYMENT_NAME and GDTMESH_WORKER_BUILD_ID go together: "
                "set both (a versioned worker) or neither"
            )
        if "." in self.worker_deployment_name:
            raise ValueError("GDTMESH_WORKER_DEPLOYMENT_NAME must not contain '.'")
        if self.worker_versioning_behavior not in VERSIONING_BEHAVIORS:
            choices = ", ".join(VERSIONING_BEHAVIORS)
            raise ValueError(f"GDTMESH_WORKER_VERSIONING_BEHAVIOR must be one of {choices}")

    @property
    def limits(self) -> WorkerLimits:
        if self.worker_mode == "burst":
            return WorkerLimits(
                self.worker_burst_max_concurrent_activities,
                self.worker_burst_max_concurrent_workflow_tasks,
                autoscale_pollers=True,
            )
        return WorkerLimits(
            self.worker_max_concurrent_activities,
            self.worker_max_concurrent_workflow_tasks,
            autoscale_pollers=False,
        )
