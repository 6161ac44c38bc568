"""The worker process: runs the import workflows and their activities on the task queue.

Run it as `python -m workers` (or `gdtmesh serve worker`), configured by GDTMESH_* variables
(`workers/config.py`); `serve(config)` runs it until a signal.
"""

from __future__ import annotations

from typing import NoReturn

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from gdtmesh.gdt_connector.v1.gdt_connector_pb2_grpc import GdtConnectorServiceStub
from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.runtime.metrics import metrics_listen
from gdtmesh.runtime.process import run_process, stop_signal
from gdtmesh.runtime.temporal import connect_temporal
from gdtmesh.storage.v1.storage_pb2_grpc import StorageServiceStub
from workers.config import WorkerConfig
from workers.imports.activities import ImportActivities
from workers.imports.workflows import WORKFLOWS
from workers.options import worker_options

log = structlog.get_logger(__name__)


def build_worker(client: Client, config: WorkerConfig, activities: ImportActivities) -> Worker:
    return Worker(
        client,
        task_queue=config.task_queue,
        workflows=WORKFLOWS,
        activities=activities.all(),
        **worker_options(config),
    )


async def connect(config: WorkerConfig) -> Client:
    try:
        return await connect_temporal(
            config.temporal_address,
            config.temporal_namespace,
            parse_keys(config.codec_keys),
            metrics_listen=metrics_listen(),  # Temporal's SDK metrics are the worker's metrics
        )
    except RuntimeError as error:
        raise OSError(f"cannot reach Temporal at {config.temporal_address}: {error}") from None


async def serve(config: WorkerConfig) -> None:
    """Poll the task queue until SIGTERM or SIGINT, then finish running activities (grace)."""
    client = await connect(config)
    connector, storage = (
        open_channel(config.gdt_connector_address),
        open_channel(config.storage_address),
    )
    activities = ImportActivities(
        GdtConnectorServiceStub(connector),  # type: ignore[arg-type]
        StorageServiceStub(storage),  # type: ignore[arg-type]
    )
    stop = stop_signal()
    try:
        async with build_worker(client, config, activities):
            log.info(
                "worker polling",
                task_queue=config.task_queue,
                mode=config.worker_mode,
                build_id=config.worker_build_id or None,
            )
            await stop.wait()
            log.info("worker stopping", grace_seconds=config.worker_shutdown_grace_seconds)
    finally:
        await connector.close()
        await storage.close()


def main() -> NoReturn:
    run_process("worker", WorkerConfig, serve, metrics_endpoint=False)
