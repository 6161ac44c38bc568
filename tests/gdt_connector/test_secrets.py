"""Passwords and portal tokens never show: not in logs (at DEBUG), not in error messages, and
not in clear in Redis."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator

import grpc
import pytest
import structlog
from redis.asyncio import Redis

from gdtmesh.invoice.v1 import invoice_pb2
from gdtmesh.runtime.logs import configure_logging
from sandbox.app import RunningSandbox
from sandbox.dataset import Company
from services.gdt_connector.sealing import Sealer
from tests.support.connector import SECRET_KEY, Connector
from tests.support.portal import MONTHS, requests_to

pytestmark = pytest.mark.timeout(30)
SOLD = invoice_pb2.FLOW_SOLD_ELECTRONIC
WRONG_PASSWORD = "S3cret-But-Wrong"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The production log set-up, at DEBUG, writing into a buffer for the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("gdt_connector", "DEBUG")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level


async def current_token(redis: Redis, account: str) -> str:
    key = f"gdtmesh:{{connector}}:token:{account}"
    sealed = await redis.hget(key, "token")
    assert isinstance(sealed, bytes)
    return Sealer(base64.b64decode(SECRET_KEY)).open(sealed, key)


async def redis_dump(redis: Redis) -> bytes:
    parts = []
    async for key in redis.scan_iter():
        parts.append(key)
        kind = await redis.type(key)
        if kind == b"hash":
            for field, value in (await redis.hgetall(key)).items():
                parts += [field, value]
        elif kind == b"string":
            parts.append(await redis.get(key))
    return b"\n".join(parts)


async def test_no_secret_in_logs_errors_or_redis(
    json_logs: io.StringIO,
    connector: Connector,
    portal: RunningSandbox,
    company: Company,
    locked_company: Company,
    redis: Redis,
) -> None:
    session_id = await connector.open(company)
    tokens = [await current_token(redis, company.mst)]
    await connector.list_all(session_id, SOLD, *MONTHS[0])
    portal.portal.tokens.revoke(company.mst)  # forces a transparent re-login
    invoices = await connector.list_all(session_id, SOLD, *MONTHS[1])
    tokens.append(await current_token(redis, company.mst))
    await connector.fetch(session_id, SOLD, invoices[:2])

    errors = []
    for who, password in ((company, WRONG_PASSWORD), (locked_company, None)):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await connector.open(who, password)
        errors.append(raised.value.details() or "")
        errors.append(str(raised.value))

    output = json_logs.getvalue()
    assert '"event": "logged in"' in output and "portal request" in output, "logs were not captured"
    stored = await redis_dump(redis)
    secrets = [company.password, locked_company.password, WRONG_PASSWORD, *tokens]
    assert requests_to(portal, "/security-taxpayer/authenticate") == {"200": 2, "401": 2}
    for secret in secrets:
        assert secret not in output
        assert all(secret not in error for error in errors)
        assert secret.encode() not in stored
    # The token's signature alone would do as much harm.
    for token in tokens:
        assert token.rsplit(".", 1)[-1] not in output
