"""Response bodies in the shapes the portal uses (JSON, compact, UTF-8)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gdtmesh.vncalendar import VIETNAM

FIREWALL_MESSAGE = "Hệ thống phát hiện hành vi không hợp lệ. Yêu cầu đã bị chặn."


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def firewall_rejection() -> web.Response:
    return json_response({"status": 403, "message": FIREWALL_MESSAGE}, status=403)


def too_many_requests(retry_after: int | None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json_response({"status": 429, "message": "Too Many Requests"}, 429, headers)


def spring_error(request: web.Request, status: int, message: str) -> web.Response:
    """The portal's error envelope, e.g. for bad detail parameters (HTTP 500)."""
    body = {
        "timestamp": datetime.now(VIETNAM).strftime("%d/%m/%Y %H:%M:%S"),
        "message": message,
        "details": "",
        "path": f"uri={service_path(request)}",
        "requestId": request.headers.get("request-id", ""),
    }
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


def service_path(request: web.Request) -> str:
    """The path as the service behind the gateway sees it.

    `/api/query/invoices/detail` (or legacy `/query/invoices/detail`) -> `/invoices/detail`.
    """
    parts = request.path.strip("/").split("/")
    if parts and parts[0] == "api":
        parts = parts[1:]
    return "/" + "/".join(parts[1:] if len(parts) > 1 else parts)
