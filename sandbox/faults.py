"""Latency and failures the real portal shows, injected on purpose.

Per endpoint class: lognormal server time, 5xx answers, hung requests (never answered until the
client gives up), the firewall's HTML block page with status 200, and bodies cut mid-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time

from aiohttp import web

from sandbox.settings import PortalConfig

Z_99 = 2.3263478740408408  # standard normal 99th percentile
# Order in which faults are drawn; the first that fires wins.
FAULT_ORDER = ("html_block", "error_5xx", "hang", "cut_body")
GATEWAY_STATUSES = (500, 502, 503, 504)
GATEWAY_WEIGHTS = (0.4, 0.3, 0.2, 0.1)

BLOCK_PAGE = (
    "<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. "
    "Please consult with your administrator.<br><br>Your support ID is: {support_id}<br><br>"
    "<a href='javascript:history.back();'>[Go Back]</a></body></html>"
)
# The other form crawlers recorded (2026): served as `text/html; charset=UTF-8`, also with 200.
CANT_DISPLAY_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>This page can\'t be '
    "displayed</title></head><body><h1>This page can't be displayed.</h1><p>Contact support "
    "for additional information.</p><p>The incident ID is: {support_id}.</p></body></html>"
)
GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} "
    "{reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}


class FaultInjector:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def latency_s(self, config: PortalConfig, endpoint_class: str) -> float:
        """A server time drawn from the class's lognormal, times `latency_scale`."""
        if config.latency_scale == 0:
            return 0.0
        spec = config.latency[endpoint_class]
        if spec.median_ms <= 0:
            return 0.0
        sigma = math.log(max(spec.p99_ms, spec.median_ms) / spec.median_ms) / Z_99
        millis = spec.median_ms * math.exp(sigma * self._rng.gauss())
        return config.latency_scale * millis / 1000

    def draw(self, config: PortalConfig, endpoint_class: str) -> str | None:
        """The fault to inject into this request, if any."""
        for kind in FAULT_ORDER:
            rate = config.fault_rate(kind, endpoint_class)
            if rate > 0 and self._rng.random() < rate:
                return kind
        return None

    def block_page(self, form: str = "request-rejected") -> web.Response:
        """The firewall's block page, status 200: `form` is PortalConfig.block_page."""
        support_id = self._rng.randrange(10**18, 10**19)
        if form == "cant-display":
            body = CANT_DISPLAY_PAGE.format(support_id=support_id)
            return web.Response(status=200, text=body, content_type="text/html", charset="UTF-8")
        body = BLOCK_PAGE.format(support_id=support_id)
        return web.Response(status=200, text=body, content_type="text/html")

    def gateway_error(self, spring_error: web.Response) -> web.Response:
        """A 500 with the portal's JSON envelope, or a 502/503/504 page from the proxy in front."""
        (status,) = self._rng.choices(GATEWAY_STATUSES, GATEWAY_WEIGHTS)
        if status == 500:
            return spring_error
        body = GATEWAY_PAGE.format(status=status, reason=_REASONS[status])
        return web.Response(status=status, text=body, content_type="text/html")


async def hang(request: web.Request, max_s: float, closing: asyncio.Event) -> None:
    """Hold the request unanswered until the client goes away, `max_s` passes or we shut down."""
    deadline = time.monotonic() + max_s
    while (left := deadline - time.monotonic()) > 0 and not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        # aiohttp does not cancel handlers when the client leaves: poll the transport.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), min(0.2, left))


async def send_cut(request: web.Request, response: web.Response) -> web.StreamResponse:
    """Send the headers and part of `response`'s body, then drop the connection."""
    body = bytes(response.body) if isinstance(response.body, bytes | bytearray) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.abort()
    return stream
