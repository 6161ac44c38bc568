"""The storage service's settings, from `GDTMESH_STORAGE_*` variables."""

from __future__ import annotations

from dataclasses import dataclass

from gdtmesh.rules import bucket_problem
from gdtmesh.runtime.config import check_listen_address

BACKENDS = ("gcs", "local")
MiB = 1024 * 1024


@dataclass(frozen=True)
class StorageConfig:
    storage_listen: str = "127.0.0.1:50062"
    storage_backend: str = "gcs"
    storage_bucket: str = "gdtmesh-invoices"
    # Root folder of the local backend: one sub-folder per bucket.
    storage_local_dir: str = ".gdtmesh/storage"
    # GCS project; with STORAGE_EMULATOR_HOST set, any name will do.
    storage_project: str = "gdtmesh-local"
    # Largest detail JSON or XML accepted; larger writes are refused with INVALID_ARGUMENT.
    storage_max_object_bytes: int = 8 * MiB
    # Create the default bucket at start when missing (emulator and local backend only).
    storage_create_bucket: bool = True
    # Blocking GCS / file calls run on a pool of this many threads.
    storage_io_concurrency: int = 8
    storage_shutdown_grace_seconds: float = 5.0

    def __post_init__(self) -> None:
        check_listen_address("GDTMESH_STORAGE_LISTEN", self.storage_listen)
        if self.storage_backend not in BACKENDS:
            raise ValueError(
                f"GDTMESH_STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, "
                f"got {self.storage_backend!r}"
            )
        if problem := bucket_problem(self.storage_bucket):
            raise ValueError(f"GDTMESH_STORAGE_BUCKET {problem}")
        if self.storage_backend == "local" and not self.storage_local_dir:
            raise ValueError("GDTMESH_STORAGE_LOCAL_DIR must be set for the local backend")
        if not 1 <= self.storage_max_object_bytes <= 64 * MiB:
            raise ValueError("GDTMESH_STORAGE_MAX_OBJECT_BYTES must be between 1 and 64 MiB")
        if not 1 <= self.storage_io_concurrency <= 64:
            raise ValueError("GDTMESH_STORAGE_IO_CONCURRENCY must be between 1 and 64")
        if self.storage_shutdown_grace_seconds < 0:
            raise ValueError("GDTMESH_STORAGE_SHUTDOWN_GRACE_SECONDS must not be negative")

    @property
    def max_message_bytes(self) -> int:
        """A WriteInvoice carries a detail and an XML of up to the maximum each, plus framing."""
        return 2 * self.storage_max_object_bytes + MiB
