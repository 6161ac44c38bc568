"""The sandbox portal as an aiohttp application, and an in-process launcher for it.

Every portal request passes the same gate before its handler, in the order the real portal's
layers answer: firewall (`request-id`), rate limits and storms (429), firewall block page,
bearer token (401), injected 5xx / hang, server latency; a cut body is applied to the answer.
Both bases are served: `/api/<path>` and the legacy unprefixed `/<path>`.

The process: `python -m sandbox [flags]` (or `gdtmesh sandbox [flags]`) runs `serve(config)`
until SIGTERM or SIGINT, after a banner with the demo companies and their passwords.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from aiohttp import web

from gdtmesh.runtime.process import run_process, stop_signal
from sandbox import admin, portal
from sandbox.auth import TokenError
from sandbox.dataset import Dataset
from sandbox.faults import hang, send_cut
from sandbox.portal import PORTAL, STARTED, Handler, Portal
from sandbox.responses import firewall_rejection, spring_error, too_many_requests, unauthorized
from sandbox.settings import SandboxConfig, SandboxSettings, config_from_flags, flags_parser

BASES = ("/api", "")
OVERLOADED = "Hệ thống đang bận, vui lòng thử lại sau."
INTERNAL_ERROR = "Lỗi hệ thống."
BANNER_COMPANIES = 20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # without the base
    endpoint_class: str  # latency and fault class
    handler: Handler
    needs_token: bool = True
    needs_request_id: bool = True


def portal_endpoints() -> list[Endpoint]:
    endpoints = [
        Endpoint("GET", "/captcha", "captcha", portal.captcha, False, False),
        Endpoint("POST", "/security-taxpayer/authenticate", "login", portal.authenticate, False),
        Endpoint("GET", "/security-taxpayer/profile", "profile", portal.profile),
    ]
    for family, list_class in (("query", "list"), ("sco-query", "sco-list")):
        for direction in ("sold", "purchase"):
            handler = portal.list_handler(family, direction)
            endpoints.append(
                Endpoint("GET", f"/{family}/invoices/{direction}", list_class, handler)
            )
        endpoints += [
            Endpoint("GET", f"/{family}/invoices/detail", "detail", portal.detail_handler(family)),
            Endpoint("GET", f"/{family}/invoices/export-xml", "xml", portal.export_handler(family)),
        ]
    return endpoints


def create_app(
    settings: SandboxSettings | None = None,
    *,
    dataset: Dataset | None = None,
    bases: Sequence[str] = BASES,
) -> web.Application:
    """The portal (every endpoint under each of `bases`) plus the `/_sandbox/` admin API."""
    state = Portal.build(settings or SandboxSettings(), dataset)
    app = web.Application()
    app[PORTAL] = state
    for base in bases:
        for endpoint in portal_endpoints():
            app.router.add_route(endpoint.method, base + endpoint.path, _gate(state, endpoint))
    admin.add_routes(app)

    async def stop_hanging(_app: web.Application) -> None:
        state.closing.set()

    app.on_shutdown.append(stop_hanging)
    return app


@dataclass(frozen=True)
class _Outcome:
    response: web.StreamResponse
    account: str | None = None
    label: int | str | None = None  # for stats; the response status when None


def _gate(
    state: Portal, endpoint: Endpoint
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        request[STARTED] = time.monotonic()
        try:
            outcome = await _pass(request, state, endpoint)
        except Exception:  # a sandbox bug: answer like the portal's backend would, keep serving
            log.exception("sandbox handler failed on %s", endpoint.path)
            outcome = _Outcome(spring_error(request, 500, INTERNAL_ERROR, state.config))
        label = outcome.label if outcome.label is not None else outcome.response.status
        state.stats.record(endpoint.path, label, outcome.account)
        return outcome.response

    return handle


async def _pass(request: web.Request, state: Portal, endpoint: Endpoint) -> _Outcome:
    config = state.config
    needs_request_id = endpoint.needs_request_id and config.request_id_required
    if needs_request_id and not request.headers.get("request-id"):
        return _Outcome(firewall_rejection())
    account, token_valid = await _identify(request, state, endpoint)
    throttled = _throttle(state, endpoint, account)
    if throttled is not None:  # counted as a 429 whatever throttle_answer sends
        return _Outcome(throttled, account, 429)
    fault = state.faults.draw(config, endpoint.endpoint_class)
    if fault is not None:
        state.stats.fault(fault)
    if fault == "html_block":
        return _Outcome(state.faults.block_page(config.block_page), account)
    if not token_valid:
        return _Outcome(unauthorized(request), account)
    await _sleep(state.faults.latency_s(config, endpoint.endpoint_class))
    if fault == "error_5xx":
        failure = state.faults.gateway_error(spring_error(request, 500, OVERLOADED, config))
        return _Outcome(failure, account)
    if fault == "hang":
        await hang(request, config.hang_max_s, state.closing)
        return _Outcome(web.Response(status=504), account, "hang")
    response = await endpoint.handler(request, state, account)
    if fault == "cut_body":
        return _Outcome(await send_cut(request, response), account, "cut")
    return _Outcome(response, account)


async def _identify(
    request: web.Request, state: Portal, endpoint: Endpoint
) -> tuple[str | None, bool]:
    """The account the request is for (None if unknown) and whether its token is acceptable."""
    if endpoint.needs_token:
        try:
            return state.tokens.verify(request.headers.get("Authorization")), True
        except TokenError:
            return None, False
    if endpoint.endpoint_class == "login":
        username = await portal.login_account(request)
        known = username is not None and state.dataset.company(username) is not None
        return (username if known else None), True
    return None, True


def _throttle(state: Portal, endpoint: Endpoint, account: str | None) -> web.Response | None:
    """A 429 if storms or rate limits refuse the request; records violations either way."""
    config = state.config
    now = time.monotonic()
    verdict = state.limiter.check(account, now, config, endpoint.endpoint_class)
    state.stats.verdict(account, verdict, endpoint.path)
    if verdict.allowed:
        return None
    retry_after = verdict.retry_after() if config.retry_after else None
    if account is not None:
        window = retry_after if retry_after is not None else config.min_backoff_s
        state.limiter.block(account, now + window)
    return too_many_requests(retry_after, config.throttle_answer)


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


# ---- in-process launcher --------------------------------------------------------------------


@dataclass
class RunningSandbox:
    """A sandbox portal serving on loopback; `url` is the base without `/api`."""

    app: web.Application
    runner: web.AppRunner
    url: str
    legacy_url: str | None

    @property
    def api_url(self) -> str:
        """The current base, e.g. `http://127.0.0.1:8480/api`."""
        return self.url + "/api"

    @property
    def portal(self) -> Portal:
        return self.app[PORTAL]

    async def aclose(self) -> None:
        self.portal.closing.set()
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningSandbox:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


async def start_sandbox(
    settings: SandboxSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    legacy_port: int | None = None,
    dataset: Dataset | None = None,
) -> RunningSandbox:
    """Serve the sandbox on `host:port` (0 = a free port) and optionally a second, legacy port.

    Both ports serve the same application (both bases, shared sessions and limits), as the real
    portal's two hosts reach one backend.
    """
    app = create_app(settings, dataset=dataset)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        urls = [await _listen(runner, host, port)]
        if legacy_port is not None:
            urls.append(await _listen(runner, host, legacy_port))
    except BaseException:
        await runner.cleanup()
        raise
    return RunningSandbox(app, runner, urls[0], urls[1] if len(urls) > 1 else None)


async def _listen(runner: web.AppRunner, host: str, port: int) -> str:
    before = list(runner.addresses)
    await web.TCPSite(runner, host, port).start()
    bound_port = next(address for address in runner.addresses if address not in before)[1]
    display_host = f"[{host}]" if ":" in host else host
    return f"http://{display_host}:{bound_port}"


# ---- the process ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """`python -m sandbox [flags]`."""
    run(flags_parser().parse_args(argv))


def run(args: argparse.Namespace) -> NoReturn:
    """The sandbox process from its parsed flags (`gdtmesh sandbox` parses the same ones)."""
    read = functools.partial(config_from_flags, args)
    # No metrics endpoint: the sandbox's evidence is /_sandbox/stats.
    run_process("sandbox", SandboxConfig, serve, metrics_endpoint=False, read_config=read)


async def serve(config: SandboxConfig) -> None:
    """Serve until SIGTERM or SIGINT; the banner on stdout says where and as whom to log in."""
    stop = stop_signal()
    sandbox = await start_sandbox(
        config.settings, config.host, config.port, legacy_port=config.legacy_port
    )
    async with sandbox:
        if config.storm_seconds:
            sandbox.portal.limiter.start_storm(config.storm_seconds, time.monotonic())
        print(banner(sandbox), flush=True)
        await stop.wait()
        print("sandbox: shutting down", flush=True)


def banner(sandbox: RunningSandbox) -> str:
    state = sandbox.portal
    companies = list(state.dataset.companies())
    lines = [f"GDT sandbox portal: {sandbox.api_url}  (legacy base: {sandbox.url}/)"]
    if sandbox.legacy_url:
        lines.append(f"legacy port: {sandbox.legacy_url}/")
    lines.append(f"{len(companies)} companies (username = tax code):")
    for company in companies[:BANNER_COMPANIES]:
        flags = "  [locked]" if state.is_locked(company.mst) else ""
        lines.append(f"  {company.mst:<16} {company.password:<14} {company.name}{flags}")
    if len(companies) > BANNER_COMPANIES:
        lines.append(f"  ... {len(companies) - BANNER_COMPANIES} more")
    admin = f"{sandbox.url}/_sandbox"
    lines += [
        f"all companies and passwords: GET {admin}/companies",
        f"ground truth: GET {admin}/truth?company=MST&flow=FLOW&month=YYYY-MM",
        f"evidence: GET {admin}/stats   knobs: GET/POST {admin}/config",
        "Ctrl-C to stop",
    ]
    return "\n".join(lines)
