"""The gateway process: `start(config)` in-process (tests, the mesh), `serve(config)` until a
signal, and `main()` for `python -m services.gateway` (or `gdtmesh serve gateway`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import NoReturn

import grpc
import structlog
from temporalio.client import Client

from gdtmesh.gateway.v1 import gateway_pb2_grpc
from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.grpc_client import open_channel
from gdtmesh.runtime.grpc_server import GrpcService, run_until_signal, start_grpc_service
from gdtmesh.runtime.process import run_process
from gdtmesh.runtime.temporal import connect_temporal
from gdtmesh.storage.v1.storage_pb2_grpc import StorageServiceStub
from services.gateway.auth import ApiKeyInterceptor, ApiKeys, parse_api_keys
from services.gateway.codec_server import CodecServer, parse_tokens, start_codec_server
from services.gateway.config import GatewayConfig
from services.gateway.invoice_import import InvoiceImportKind
from services.gateway.load_shedding import LoadSheddingInterceptor
from services.gateway.manifests import Manifests
from services.gateway.recent_resync import RecentMonthsResyncKind
from services.gateway.servicer import SERVICE_NAME, TaskServicer
from services.gateway.tasks import TaskKind, Tasks
from services.gateway.visibility import ensure_registered

log = structlog.get_logger(__name__)


def task_kinds(config: GatewayConfig) -> list[TaskKind]:
    """Every kind of task the gateway offers (one per `StartTaskRequest.task` member)."""
    return [
        InvoiceImportKind(config.default_bucket, config.gdt_connector_fetch_concurrency),
        RecentMonthsResyncKind(config.default_bucket, config.gdt_connector_fetch_concurrency),
    ]


async def connect(config: GatewayConfig) -> Client:
    keys = parse_keys(config.codec_keys.reveal())
    try:
        return await connect_temporal(config.temporal_address, config.temporal_namespace, keys)
    except RuntimeError as error:
        raise OSError(f"cannot reach Temporal at {config.temporal_address}: {error}") from None


async def start(config: GatewayConfig, client: Client | None = None) -> GrpcService:
    """Start the gateway; `client` defaults to a new connection to the configured Temporal."""
    client = client or await connect(config)
    await ensure_registered(client)
    tasks = Tasks(
        client,
        config.task_queue,
        task_kinds(config),
        watch_interval=timedelta(seconds=config.gateway_watch_interval_seconds),
    )
    keys = ApiKeys(parse_api_keys(config.api_keys.reveal()))
    shedding = LoadSheddingInterceptor(
        config.gateway_max_concurrent_rpcs, config.gateway_max_streams
    )

    storage = open_channel(config.storage_address)
    manifests = Manifests(tasks, StorageServiceStub(storage))  # type: ignore[arg-type]

    def register(server: grpc.aio.Server) -> Sequence[str]:
        servicer = TaskServicer(tasks, manifests)
        gateway_pb2_grpc.add_TaskServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    # Shed first: a refused call costs no key check.
    service = await start_grpc_service(
        config.gateway_listen,
        register,
        extra_interceptors=[shedding, ApiKeyInterceptor(keys)],
        public=True,  # callers' baggage is not trusted (docs/observability.md)
    )
    service.on_stop.append(storage.close)
    if config.codec_listen:
        try:
            codec = await start_codec(config)
        except OSError:
            await service.stop(0)
            raise
        service.on_stop.append(codec.stop)
    return service


async def start_codec(config: GatewayConfig) -> CodecServer:
    """The remote codec endpoint for the Temporal UI and CLI, with the gateway's keys."""
    codec = await start_codec_server(
        config.codec_listen,
        parse_keys(config.codec_keys.reveal()),
        parse_tokens(config.codec_tokens.reveal()),
        config.codec_cors_origins,
        config.temporal_namespace,
    )
    log.info("codec endpoint listening", port=codec.port)
    return codec


async def serve(config: GatewayConfig) -> None:
    """Serve until SIGTERM or SIGINT, then drain for the shutdown grace."""
    service = await start(config)
    log.info("gateway listening", port=service.port, task_queue=config.task_queue)
    await run_until_signal(service, config.gateway_shutdown_grace_seconds)


def main() -> NoReturn:
    run_process("gateway", GatewayConfig, serve)
