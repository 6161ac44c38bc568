"""HTTP access to the GDT portal: one aiohttp session per process, a fresh `request-id` and a
timeout on every request, pacing before it leaves, and the portal's answers classified the way
the architecture's failure table says.

`PortalClient.send` returns a `Reply` for anything the portal answered with a body worth reading
(2xx, 400, 401, 500 ...); it raises `ServiceError` itself for what no caller can handle better:
transport failures, throttling (recorded for the account's backoff: a 429, a 503 from the portal
itself rather than the proxy's page, one with a Retry-After, or a body saying "too many
requests" / "quá nhiều yêu cầu", whatever its status) and the firewall (its 403 JSON, and
either HTML block page: "Request Rejected" or "This page can't be displayed").

Every request is a `portal <endpoint>` span (pacing wait included; the aiohttp instrumentation's
HTTP span below it) with the account, path, status, 429 and retry delay as attributes, and counts
in the connector's metrics. No span or metric holds a query string, header or body: tokens,
passwords and captcha answers travel only there. Baggage (our task ids) is not sent to the portal.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import grpc
import structlog
import yarl
from google.rpc import error_details_pb2
from opentelemetry import trace
from opentelemetry.instrumentation.aiohttp_client import create_trace_config

from gdtmesh import reasons
from gdtmesh.runtime.errors import ServiceError, error_info, retry_later
from gdtmesh.runtime.telemetry import attached, without_baggage
from services.gdt_connector.config import ConnectorConfig
from services.gdt_connector.metrics import (
    PORTAL_BACKOFF_SECONDS,
    PORTAL_REQUESTS,
    PORTAL_SECONDS,
    PORTAL_THROTTLED,
    endpoint_of,
)
from services.gdt_connector.pacing import Pacer

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)

USER_AGENT = "gdtmesh-connector/0.1"
MAX_MESSAGE_CHARS = 300
# Throttling said in words (gdt-portal.md, "Added 2026-12"); looked for in bodies this small.
THROTTLE_MARKERS = ("too many requests", "quá nhiều yêu cầu")
THROTTLE_BODY_MAX = 4096
# The firewall's two HTML block pages ("Request Rejected"; "This page can't be displayed... The
# incident ID is: ...") recognised whatever their status.
BLOCK_PAGE_MARKERS = ("request rejected", "the requested url was rejected", "incident id is")


@dataclass(frozen=True)
class Reply:
    """A portal answer: status, content type and the body exactly as served."""

    status: int
    content_type: str
    body: bytes
    cookies: Mapping[str, str]

    @property
    def is_html(self) -> bool:
        return "html" in self.content_type or self.body.lstrip()[:1] == b"<"

    def json(self, what: str) -> Any:
        """The body as JSON; DATA_LOSS when it is not JSON (an HTML page included)."""
        if self.is_html:
            raise unavailable(f"{what}: the portal answered with an HTML page", reasons.PORTAL_HTML)
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nesting bombs too
            raise malformed(f"{what}: the portal's answer is not valid JSON") from None

    def says_throttled(self) -> bool:
        """A short answer whose message (or, for a page, text) says the portal is throttling."""
        if len(self.body) > THROTTLE_BODY_MAX:
            return False
        text = self.body.decode("utf-8", "replace") if self.is_html else self.message()
        return any(marker in normalized(text) for marker in THROTTLE_MARKERS)

    def is_block_page(self) -> bool:
        """The firewall's block page: any HTML with status 200, or one of its known texts."""
        if not self.is_html:
            return False
        text = normalized(self.body[:THROTTLE_BODY_MAX].decode("utf-8", "replace"))
        return self.status == 200 or any(marker in text for marker in BLOCK_PAGE_MARKERS)

    def message(self) -> str:
        """The portal's own error text (`message` of its JSON envelope), shortened."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nesting bombs too
            return ""
        text = data.get("message") if isinstance(data, dict) else None
        return str(text)[:MAX_MESSAGE_CHARS] if text else ""


class PortalClient:
    """The only way requests reach the portal."""

    def __init__(self, config: ConnectorConfig, pacer: Pacer) -> None:
        self._config = config
        self._pacer = pacer
        self._root = config.portal_root
        base = urlsplit(config.portal_base_url)
        self._server: dict[str, str | int] = {
            "server.address": base.hostname or "",
            "server.port": base.port or (443 if base.scheme == "https" else 80),
        }
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=config.portal_request_timeout_seconds,
                connect=config.portal_connect_timeout_seconds,
            ),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json, */*"},
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies are forwarded explicitly, per login
            trace_configs=[create_trace_config(url_filter=_without_query)],
            raise_for_status=False,
        )

    async def close(self) -> None:
        await self._http.close()

    async def send(
        self,
        method: str,
        path: str,
        *,
        account: str,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, str] | None = None,
        token: str | None = None,
        cookies: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Reply:
        """One request for `account`, once its budget allows; see the module doc for errors."""
        endpoint = endpoint_of(path)
        with self._span(method, path, endpoint, account) as span:
            waited = await self._pacer.admit(account, endpoint)
            span.set_attribute("gdt.pacing_wait_s", round(waited, 3))
            headers = {"request-id": str(uuid.uuid4())}
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            if cookies:
                headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
            timeout = aiohttp.ClientTimeout(
                total=timeout_s or self._config.portal_request_timeout_seconds,
                connect=self._config.portal_connect_timeout_seconds,
            )
            reply, retry_after = await self._exchange(
                method, path, endpoint, headers, timeout, params=params, json_body=json_body
            )
            span.set_attribute("http.response.status_code", reply.status)
            return await self._screen(reply, f"{method} {path}", endpoint, account, retry_after)

    @contextmanager
    def _span(self, method: str, path: str, endpoint: str, account: str) -> Iterator[trace.Span]:
        """The request's span; a failure leaves its gRPC code and any retry delay on it."""
        attributes: dict[str, str | int] = {
            "gdt.endpoint": endpoint,
            "gdt.account": account,
            "http.request.method": method,
            "url.path": self._config.portal_path_prefix + path,
            **self._server,
        }
        with _tracer.start_as_current_span(
            f"portal {endpoint}", attributes=attributes, record_exception=False
        ) as span:
            try:
                yield span
            except ServiceError as error:
                _note_failure(span, error)
                raise

    async def _exchange(
        self,
        method: str,
        path: str,
        endpoint: str,
        headers: Mapping[str, str],
        client_timeout: aiohttp.ClientTimeout,
        *,
        params: Mapping[str, str] | None,
        json_body: Mapping[str, str] | None,
    ) -> tuple[Reply, str | None]:
        """The HTTP exchange itself (counted in the metrics): the reply and its Retry-After."""
        what = f"{method} {path}"
        started = time.perf_counter()
        status = "error"
        try:
            with _leaving_the_mesh():
                async with self._http.request(
                    method,
                    self._root + path,
                    params=params,
                    json=json_body,
                    headers=headers,
                    timeout=client_timeout,
                ) as response:
                    status = str(response.status)
                    body = await self._read(response, what)
                    reply = Reply(
                        response.status,
                        response.content_type or "",
                        body,
                        {name: morsel.value for name, morsel in response.cookies.items()},
                    )
                    retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            status = "timeout"
            raise ServiceError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{what}: the portal did not answer in time",
                [error_info(reasons.PORTAL_TIMEOUT)],
            ) from None
        except aiohttp.ClientError as error:
            raise unavailable(f"{what}: connection failed ({type(error).__name__})") from None
        finally:
            PORTAL_REQUESTS.labels(endpoint, status).inc()
            PORTAL_SECONDS.labels(endpoint).observe(time.perf_counter() - started)
        log.debug("portal request", method=method, path=path, status=reply.status)
        return reply, retry_after

    async def _read(self, response: aiohttp.ClientResponse, what: str) -> bytes:
        limit = self._config.portal_max_body_bytes
        if (response.content_length or 0) > limit:
            raise malformed(f"{what}: answer of {response.content_length} bytes is over the limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise malformed(f"{what}: answer is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _screen(
        self, reply: Reply, what: str, endpoint: str, account: str, retry_after: str | None
    ) -> Reply:
        """Raise for the answers that mean the same thing whatever was asked."""
        if is_throttling(reply, retry_after):
            PORTAL_THROTTLED.labels(endpoint).inc()
            delay = await self._pacer.throttled(account, parse_retry_after(retry_after))
            PORTAL_BACKOFF_SECONDS.inc(delay)
            log.warning("portal throttled", account=account, backoff_s=round(delay, 1))
            raise retry_later(
                timedelta(seconds=delay),
                f"{what}: the portal is rate limiting account {account}; backing off {delay:.0f}s",
                reason=reasons.PORTAL_THROTTLED,
            )
        if reply.status == 403:
            # The firewall: logging in again does not cure it, only waiting does.
            raise unavailable(
                f"{what}: the portal firewall rejected the request (HTTP 403) {reply.message()}",
                reasons.PORTAL_FIREWALL,
            )
        if reply.is_block_page():
            raise unavailable(
                f"{what}: the portal firewall answered with a block page (HTTP {reply.status})",
                reasons.PORTAL_FIREWALL,
            )
        if reply.status in (502, 503, 504):
            raise unavailable(f"{what}: the portal is unavailable (HTTP {reply.status})")
        return reply


def is_throttling(reply: Reply, retry_after: str | None) -> bool:
    """The portal refusing for rate: a 429; a 503 that is not the proxy's bare HTML page (a
    JSON answer of the portal itself, or one that says when to retry); or a short body saying
    so, whatever its status (some crawlers saw "quá nhiều yêu cầu" with a 200)."""
    if reply.status == 429:
        return True
    if reply.status == 503 and (not reply.is_html or parse_retry_after(retry_after) is not None):
        return True
    return reply.says_throttled()


def _leaving_the_mesh() -> AbstractContextManager[None]:
    """The portal is not ours: it gets a traceparent (harmless) but no baggage (our task ids)."""
    return attached(without_baggage())


def _without_query(url: yarl.URL) -> str:
    """The URL the HTTP span shows: no query string (search filters, paging state, keys)."""
    return str(url.with_query(None))


def _note_failure(span: trace.Span, error: ServiceError) -> None:
    """A failed request's span: the status code it maps to and, for RESOURCE_EXHAUSTED (a 429
    or our own pacing), how long to wait."""
    span.set_status(trace.StatusCode.ERROR, error.code.name)
    span.set_attribute("rpc.grpc.status_code", error.code.value[0])
    if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        span.set_attribute("gdt.throttled", True)
        for detail in error.details:
            if isinstance(detail, error_details_pb2.RetryInfo):
                delay = detail.retry_delay.ToTimedelta().total_seconds()
                span.set_attribute("gdt.retry_delay_s", round(delay, 3))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds, whole or decimal, or an HTTP date); None
    if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    if re.fullmatch(r"\d{1,9}\.\d{1,6}", value):
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def unavailable(text: str, reason: str = reasons.PORTAL_UNAVAILABLE) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, text.strip(), [error_info(reason)])


def malformed(text: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.DATA_LOSS, text, [error_info(reasons.PORTAL_MALFORMED)])


def server_error(reply: Reply, what: str) -> ServiceError:
    """A portal answer no caller expected: 5xx is worth retrying, other codes are not."""
    detail = f"{what}: the portal answered HTTP {reply.status}"
    message = reply.message()
    if message:
        detail += f": {message}"
    if reply.status >= 500:
        return unavailable(detail, reasons.PORTAL_ERROR)
    return ServiceError(
        grpc.StatusCode.FAILED_PRECONDITION, detail, [error_info(reasons.PORTAL_REFUSED)]
    )


def normalized(text: str) -> str:
    """Lower case NFC, so that "khoá" and "khóa" spellings compare as written."""
    return unicodedata.normalize("NFC", text).lower()
