"""Build and run the connector: `start(config)` in-process (tests, the mesh), `serve(config)`
until a signal, and `main()` for `python -m services.gdt_connector` (or
`gdtmesh serve gdt_connector`)."""

from __future__ import annotations

from typing import NoReturn

import grpc
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2, gdt_connector_pb2_grpc
from gdtmesh.runtime.grpc_server import GrpcService, run_until_signal, start_grpc_service
from gdtmesh.runtime.process import run_process
from services.gdt_connector import metrics
from services.gdt_connector.captcha import solve_captcha
from services.gdt_connector.config import ConnectorConfig, decode_secret_key
from services.gdt_connector.connector import Connector
from services.gdt_connector.login import PortalLogin, Solver
from services.gdt_connector.pacing import Pacer
from services.gdt_connector.portal import PortalClient
from services.gdt_connector.sealing import Sealer
from services.gdt_connector.servicer import GdtConnectorServicer
from services.gdt_connector.sessions import SessionStore

log = structlog.get_logger(__name__)
SERVICE_NAME = gdt_connector_pb2.DESCRIPTOR.services_by_name["GdtConnectorService"].full_name
REDIS_TIMEOUT_S = 5.0


def sealer_for(config: ConnectorConfig) -> Sealer:
    if config.gdt_connector_secret_key:
        return Sealer(decode_secret_key(config.gdt_connector_secret_key))
    log.warning(
        "GDTMESH_GDT_CONNECTOR_SECRET_KEY is not set: using an ephemeral key, so sessions do not "
        "survive a restart and other replicas cannot use them"
    )
    return Sealer.ephemeral()


def pacer_for(config: ConnectorConfig, redis: Redis) -> Pacer:
    budgets = config.endpoint_budgets()
    metrics.publish_budgets(
        config.portal_account_rate,
        config.portal_global_rate,
        {name: rate for name, (rate, _) in budgets.items()},
    )
    return Pacer(
        redis,
        host=config.portal_host,
        account_rate=config.portal_account_rate,
        account_burst=config.portal_account_burst,
        global_rate=config.portal_global_rate,
        max_wait_s=config.portal_max_wait_seconds,
        backoff_initial_s=config.portal_backoff_initial_seconds,
        backoff_max_s=config.portal_backoff_max_seconds,
        endpoint_budgets=budgets,
    )


async def start(config: ConnectorConfig, *, solver: Solver = solve_captcha) -> GrpcService:
    """Start the service on `config.gdt_connector_listen`; `solver` reads captchas."""
    redis = Redis.from_url(
        config.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    try:
        await redis.ping()
    except RedisError as error:
        await redis.aclose()
        raise OSError(f"Redis at GDTMESH_REDIS_URL is not reachable ({error})") from None
    client = PortalClient(config, pacer_for(config, redis))
    login = PortalLogin(client, solver, config.portal_captcha_attempts)
    store = SessionStore(
        redis,
        sealer_for(config),
        login.log_in,
        session_ttl_s=config.gdt_connector_session_ttl_seconds,
        renew_margin_s=config.gdt_connector_token_renew_margin_seconds,
    )
    servicer = GdtConnectorServicer(
        Connector(config, client, store), config.gdt_connector_fetch_max_batch
    )

    def register(server: grpc.aio.Server) -> list[str]:
        gdt_connector_pb2_grpc.add_GdtConnectorServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    async def close() -> None:
        await client.close()
        await redis.aclose()

    try:
        service = await start_grpc_service(config.gdt_connector_listen, register)
    except BaseException:
        await close()
        raise
    service.on_stop.append(close)
    log.info("connector listening", port=service.port, portal=config.portal_root)
    return service


async def serve(config: ConnectorConfig) -> None:
    """Serve until SIGTERM or SIGINT, then drain for the shutdown grace."""
    service = await start(config)
    await run_until_signal(service, config.gdt_connector_shutdown_grace_seconds)


def main() -> NoReturn:
    run_process("gdt_connector", ConnectorConfig, serve)
