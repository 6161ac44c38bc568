"""Response bodies in the shapes the portal uses (JSON, compact, UTF-8)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gdtmesh.vncalendar import VIETNAM
from sandbox.settings import PortalConfig

FIREWALL_MESSAGE = "Hệ thống phát hiện hành vi không hợp lệ. Yêu cầu đã bị chặn."
TOO_MANY_REQUESTS = "Too Many Requests"
SERVICE_UNAVAILABLE = "Service Unavailable"
# What some crawlers recorded instead of a 429: a JSON 503, or a 200 whose body says it.
THROTTLED_MESSAGE = "Quá nhiều yêu cầu, vui lòng thử lại sau (too many requests)."


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def firewall_rejection() -> web.Response:
    return json_response({"status": 403, "message": FIREWALL_MESSAGE}, status=403)


def too_many_requests(retry_after: int | None, answer: str = "429") -> web.Response:
    """A refusal for rate: `answer` is PortalConfig.throttle_answer (429, 503 or message)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if answer == "503":
        return json_response({"status": 503, "message": SERVICE_UNAVAILABLE}, 503, headers)
    if answer == "message":
        return json_response({"status": 429, "message": THROTTLED_MESSAGE}, 200, headers)
    return json_response({"status": 429, "message": TOO_MANY_REQUESTS}, 429, headers)


def spring_error(
    request: web.Request, status: int, message: str, config: PortalConfig | None = None
) -> web.Response:
    """The portal's error envelope, e.g. for bad detail parameters (HTTP 500). Its `requestId`
    is the server's own (never the client's `request-id`); `sco-query` errors have none when
    `config.sco_errors_request_id` is off."""
    body = {
        "timestamp": datetime.now(VIETNAM).strftime("%d/%m/%Y %H:%M:%S"),
        "message": message,
        "details": "",
        "path": f"uri={service_path(request)}",
        "requestId": str(uuid.uuid4()),
    }
    if config is not None and not config.sco_errors_request_id and family(request) == "sco-query":
        del body["requestId"]
    return json_response(body, status)


def unauthorized(request: web.Request) -> web.Response:
    """Spring Security's answer to a missing, expired or revoked bearer token."""
    body = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "status": 401,
        "error": "Unauthorized",
        "message": "Unauthorized",
        "path": request.path,
    }
    return json_response(body, 401)


def family(request: web.Request) -> str:
    """`query`, `sco-query` or whatever the path names first after the base."""
    parts = request.path.strip("/").split("/")
    return parts[1] if parts[0] == "api" and len(parts) > 1 else parts[0]


def service_path(request: web.Request) -> str:
    """The path as the service behind the gateway sees it.

    `/api/query/invoices/detail` (or legacy `/query/invoices/detail`) -> `/invoices/detail`.
    """
    parts = request.path.strip("/").split("/")
    if parts and parts[0] == "api":
        parts = parts[1:]
    return "/" + "/".join(parts[1:] if len(parts) > 1 else parts)
