"""HTTP access to the GDT portal: one aiohttp session per process, a fresh `request-id` and a
timeout on every request, pacing before it leaves, and the portal's answers classified the way
the architecture's failure table says.

`PortalClient.send` returns a `Reply` for anything the portal answered with a body worth reading
(2xx, 400, 401, 500 ...); it raises `ServiceError` itself for what no caller can handle better:
transport failures, 429 (recorded for the account's backoff) and the firewall's 403.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import grpc
import structlog
from opentelemetry.instrumentation.aiohttp_client import create_trace_config

from gdtmesh.runtime.errors import ServiceError, error_info, retry_later
from services.gdt_connector.config import ConnectorConfig
from services.gdt_connector.pacing import Pacer

log = structlog.get_logger(__name__)

USER_AGENT = "gdtmesh-connector/0.1"
MAX_MESSAGE_CHARS = 300


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
            raise unavailable(f"{what}: the portal answered with an HTML page", "PORTAL_HTML")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise malformed(f"{what}: the portal's answer is not valid JSON") from None

    def message(self) -> str:
        """The portal's own error text (`message` of its JSON envelope), shortened."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return ""
        text = data.get("message") if isinstance(data, dict) else None
        return str(text)[:MAX_MESSAGE_CHARS] if text else ""


class PortalClient:
    """The only way requests reach the portal."""

    def __init__(self, config: ConnectorConfig, pacer: Pacer) -> None:
        self._config = config
        self._pacer = pacer
        self._root = config.portal_root
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=config.portal_request_timeout_s, connect=config.portal_connect_timeout_s
            ),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json, */*"},
            cookie_jar=aiohttp.DummyCookieJar(),  # cookies are forwarded explicitly, per login
            trace_configs=[create_trace_config()],
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
        await self._pacer.admit(account)
        headers = {"request-id": str(uuid.uuid4())}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        timeout = aiohttp.ClientTimeout(
            total=timeout_s or self._config.portal_request_timeout_s,
            connect=self._config.portal_connect_timeout_s,
        )
        what = f"{method} {path}"
        try:
            async with self._http.request(
                method,
                self._root + path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=timeout,
            ) as response:
                body = await self._read(response, what)
                reply = Reply(
                    response.status,
                    response.content_type or "",
                    body,
                    {name: morsel.value for name, morsel in response.cookies.items()},
                )
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise ServiceError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"{what}: the portal did not answer in time",
                [error_info("PORTAL_TIMEOUT")],
            ) from None
        except aiohttp.ClientError as error:
            raise unavailable(f"{what}: connection failed ({type(error).__name__})") from None
        log.debug("portal request", method=method, path=path, status=reply.status)
        return await self._screen(reply, what, account, retry_after)

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
        self, reply: Reply, what: str, account: str, retry_after: str | None
    ) -> Reply:
        """Raise for the answers that mean the same thing whatever was asked."""
        if reply.status == 429:
            delay = await self._pacer.throttled(account, parse_retry_after(retry_after))
            log.warning("portal throttled", account=account, backoff_s=round(delay, 1))
            raise retry_later(
                timedelta(seconds=delay),
                f"{what}: the portal is rate limiting account {account}; backing off {delay:.0f}s",
                reason="PORTAL_THROTTLED",
            )
        if reply.status == 403:
            # The firewall: logging in again does not cure it, only waiting does.
            raise unavailable(
                f"{what}: the portal firewall rejected the request (HTTP 403) {reply.message()}",
                "PORTAL_FIREWALL",
            )
        if reply.status == 200 and reply.is_html:
            raise unavailable(
                f"{what}: the portal firewall answered with a block page", "PORTAL_FIREWALL"
            )
        if reply.status in (502, 503, 504):
            raise unavailable(f"{what}: the portal is unavailable (HTTP {reply.status})")
        return reply


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def unavailable(text: str, reason: str = "PORTAL_UNAVAILABLE") -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAVAILABLE, text.strip(), [error_info(reason)])


def malformed(text: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.DATA_LOSS, text, [error_info("PORTAL_MALFORMED")])


def server_error(reply: Reply, what: str) -> ServiceError:
    """A portal answer no caller expected: 5xx is worth retrying, other codes are not."""
    detail = f"{what}: the portal answered HTTP {reply.status}"
    message = reply.message()
    if message:
        detail += f": {message}"
    if reply.status >= 500:
        return unavailable(detail, "PORTAL_ERROR")
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, detail, [error_info("PORTAL_REFUSED")])


def normalized(text: str) -> str:
    """Lower case NFC, so that "khoá" and "khóa" spellings compare as written."""
    return unicodedata.normalize("NFC", text).lower()
