"""The worker's settings, from GDTMESH_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.config import Secret

_HOST_PORT_FIELDS = ("temporal_address", "connector_address", "storage_address")


@dataclass(frozen=True)
class WorkerConfig:
    codec_keys: Secret  # GDTMESH_CODEC_KEYS: `id:base64key,...`, the first one encrypts
    connector_address: str  # GDTMESH_CONNECTOR_ADDRESS: host:port of gdtmesh.gdt.v1
    storage_address: str  # GDTMESH_STORAGE_ADDRESS: host:port of gdtmesh.storage.v1
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "gdtmesh-imports"
    worker_max_concurrent_activities: int = 100
    worker_max_concurrent_workflow_tasks: int = 50
    worker_shutdown_grace_seconds: float = 30.0

    def __post_init__(self) -> None:
        parse_keys(self.codec_keys.reveal())  # ValueError names the problem, never the key
        for name in _HOST_PORT_FIELDS:
            check_target(f"GDTMESH_{name.upper()}", getattr(self, name))
        if not self.task_queue:
            raise ValueError("GDTMESH_TASK_QUEUE must not be empty")
        if self.worker_max_concurrent_activities < 1:
            raise ValueError("GDTMESH_WORKER_MAX_CONCURRENT_ACTIVITIES must be at least 1")
        if self.worker_max_concurrent_workflow_tasks < 1:
            raise ValueError("GDTMESH_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS must be at least 1")
        if self.worker_shutdown_grace_seconds < 0:
            raise ValueError("GDTMESH_WORKER_SHUTDOWN_GRACE_SECONDS must not be negative")


def check_target(name: str, value: str) -> None:
    """A `host:port` to connect to."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"{name} must be host:port, got {value!r}")
