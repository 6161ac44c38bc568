"""The connector's portal requests as spans and metrics, against a small recording HTTP server
and the real pacer (Redis): the work context and the HTTP result on the span, a 429's retry
delay, no query string or token anywhere, and neither baggage nor task ids sent to the portal."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp import web
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from gdtmesh.runtime.errors import ServiceError
from gdtmesh.runtime.telemetry import work_context
from programs.mesh.servers import ManagedProcess
from services.gdt_connector.config import ConnectorConfig
from services.gdt_connector.pacing import Pacer
from services.gdt_connector.portal import PortalClient
from tests.support.portal import serving

TASK_ID = "acme:invoice-import:0101234567:20250101-20250131:all"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTAxMjM0NTY3In0.signature"


@pytest.fixture
async def portal() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A portal that records request headers: lists answer 200, the captcha 429 (Retry-After 2)."""
    seen: list[dict[str, str]] = []

    async def listing(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"datas": [], "total": 0, "state": None})

    async def captcha(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(status=429, headers={"Retry-After": "2"})

    app = web.Application()
    app.router.add_get("/api/query/invoices/purchase", listing)
    app.router.add_get("/api/captcha", captcha)
    async with serving(app) as url:
        yield url, seen


@pytest.fixture
async def client(
    portal: tuple[str, list[dict[str, str]]], redis_server: ManagedProcess
) -> AsyncIterator[PortalClient]:
    redis = Redis.from_url(f"redis://{redis_server.address}/0")
    config = ConnectorConfig(portal_base_url=portal[0])
    pacer = Pacer(
        redis,
        host=f"span-test-{secrets.token_hex(4)}",  # budgets of its own in the shared Redis
        account_rate=4.0,  # the second request waits a quarter of a second
        account_burst=1,
        global_rate=100.0,
        max_wait_s=5.0,
        backoff_initial_s=1.0,
        backoff_max_s=4.0,
    )
    portal_client = PortalClient(config, pacer)
    yield portal_client
    await portal_client.close()
    await redis.aclose()


def _attributes(exporter: InMemorySpanExporter, name: str) -> list[dict[str, object]]:
    return [dict(s.attributes or {}) for s in exporter.get_finished_spans() if s.name == name]


async def test_a_portal_request_is_a_span_with_its_context_and_result(
    client: PortalClient,
    portal: tuple[str, list[dict[str, str]]],
    exported: InMemorySpanExporter,
) -> None:
    account = f"01{secrets.randbelow(10**8):08d}"
    params = {"search": "tdlap=ge=01/03/2025", "state": "opaque-cursor"}
    with work_context(task_id=TASK_ID, company=account, flow="mua_vao_dien_tu", month="2025-03"):
        for _ in range(2):
            reply = await client.send(
                "GET", "/query/invoices/purchase", account=account, params=params, token=TOKEN
            )
            assert reply.status == 200

    exporter = exported
    first, second = _attributes(exporter, "portal list")
    assert first["http.response.status_code"] == 200
    assert first["url.path"] == "/api/query/invoices/purchase"
    assert (first["gdt.account"], first["gdtmesh.task_id"]) == (account, TASK_ID)
    assert (first["gdtmesh.flow"], first["gdtmesh.month"]) == ("mua_vao_dien_tu", "2025-03")
    assert 0.1 < float(second["gdt.pacing_wait_s"]) <= 0.3  # type: ignore[arg-type]
    [http, _] = _attributes(exporter, "GET")  # the aiohttp instrumentation, below ours
    assert str(http["http.url"]).endswith("/api/query/invoices/purchase")  # no query string
    everything = json.dumps([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    assert "opaque-cursor" not in everything and "eyJ" not in everything

    headers = portal[1][0]
    assert headers["Authorization"] == f"Bearer {TOKEN}"  # what the portal needs
    assert "traceparent" in headers
    assert "baggage" not in headers and TASK_ID not in json.dumps(portal[1])


async def test_a_429_leaves_its_retry_delay_on_the_span_and_in_the_metrics(
    client: PortalClient, exported: InMemorySpanExporter
) -> None:
    account = f"01{secrets.randbelow(10**8):08d}"
    labels = {"endpoint": "captcha"}
    before = REGISTRY.get_sample_value("gdtmesh_portal_throttled_total", labels) or 0.0
    with pytest.raises(ServiceError) as throttled:
        await client.send("GET", "/captcha", account=account)
    assert throttled.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(ServiceError) as refused:  # the account now backs off: nothing is sent
        await client.send("GET", "/captcha", account=account)
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED

    first, second = _attributes(exported, "portal captcha")
    assert first["http.response.status_code"] == 429
    assert first["gdt.throttled"] is True
    assert first["gdt.retry_delay_s"] == pytest.approx(2.0, abs=0.05)
    assert "http.response.status_code" not in second  # refused by our own pacing
    assert 1.5 < float(second["gdt.retry_delay_s"]) <= 2.0  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("gdtmesh_portal_throttled_total", labels) == before + 1
    refusals = REGISTRY.get_sample_value(
        "gdtmesh_portal_pacing_refused_total", {"reason": "backoff"}
    )
    assert refusals and refusals >= 1
