"""Build and run the storage service: `start(config)` in-process (tests, the mesh),
`serve(config)` until a signal, and `main()` for `python -m services.storage` (or
`gdtmesh serve storage`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import grpc
import structlog
from google.auth import exceptions as auth_exceptions

from gdtmesh.runtime.config import ConfigError
from gdtmesh.runtime.grpc_server import GrpcService, run_until_signal, start_grpc_service
from gdtmesh.runtime.process import run_process
from gdtmesh.storage.v1 import storage_pb2, storage_pb2_grpc
from services.storage.config import StorageConfig
from services.storage.gcs_store import GcsStore, gcs_client
from services.storage.local_store import LocalStore
from services.storage.objects import ObjectStore, StoreError
from services.storage.servicer import StorageServicer

log = structlog.get_logger(__name__)
SERVICE_NAME = storage_pb2.DESCRIPTOR.services_by_name["StorageService"].full_name


def open_store(config: StorageConfig, environ: Mapping[str, str] | None = None) -> ObjectStore:
    """The configured backend. GCS talks to the emulator named by STORAGE_EMULATOR_HOST when
    set (anonymous credentials), else to Google Cloud with application default credentials."""
    env = os.environ if environ is None else environ
    if config.storage_backend == "local":
        return LocalStore(Path(config.storage_local_dir), config.storage_io_concurrency)
    try:
        client = gcs_client(config.storage_project, env.get("STORAGE_EMULATOR_HOST") or None)
    except auth_exceptions.DefaultCredentialsError:
        raise ConfigError(
            "the gcs backend needs Google Cloud credentials (or STORAGE_EMULATOR_HOST)"
        ) from None
    return GcsStore(client, config.storage_io_concurrency)


def may_create_bucket(config: StorageConfig, environ: Mapping[str, str] | None = None) -> bool:
    """Buckets are created only where that is a development convenience, never in real GCS."""
    env = os.environ if environ is None else environ
    local_or_emulator = config.storage_backend == "local" or bool(env.get("STORAGE_EMULATOR_HOST"))
    return config.storage_create_bucket and local_or_emulator


async def start(config: StorageConfig, store: ObjectStore | None = None) -> GrpcService:
    """Start the service on `config.storage_listen`; `store` overrides the configured backend."""
    store = store or open_store(config)
    try:
        if may_create_bucket(config):
            await store.ensure_bucket(config.storage_bucket)
        servicer = StorageServicer(store, config.storage_bucket, config.storage_max_object_bytes)

        def register(server: grpc.aio.Server) -> list[str]:
            storage_pb2_grpc.add_StorageServiceServicer_to_server(servicer, server)
            return [SERVICE_NAME]

        service = await start_grpc_service(
            config.storage_listen, register, max_message_bytes=config.max_message_bytes
        )
    except StoreError as error:
        await store.close()
        raise OSError(f"storage backend not ready: {error}") from None
    except BaseException:
        await store.close()
        raise
    service.on_stop.append(store.close)
    log.info(
        "storage listening",
        port=service.port,
        backend=config.storage_backend,
        bucket=config.storage_bucket,
    )
    return service


async def serve(config: StorageConfig) -> None:
    """Serve until SIGTERM or SIGINT, then drain for the shutdown grace."""
    service = await start(config)
    await run_until_signal(service, config.storage_shutdown_grace_seconds)


def main() -> NoReturn:
    run_process("storage", StorageConfig, serve)
