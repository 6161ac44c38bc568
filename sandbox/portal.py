"""The portal's own endpoints: captcha, login, profile, the four lists, detail and XML export.

Handlers see a request that already passed the firewall, limits and faults (sandbox.app); a data
handler gets the account its bearer token belongs to and only ever sees that account's invoices.
"""

from __future__ import annotations

import asyncio
import hmac
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from sandbox.auth import CaptchaStore, TokenIssuer
from sandbox.captcha import png_data_uri
from sandbox.cursor import CursorCodec, CursorError
from sandbox.dataset import Dataset, InvoiceRef
from sandbox.faults import FaultInjector
from sandbox.limits import RateLimiter
from sandbox.responses import json_response, spring_error
from sandbox.search import Position, SearchError, parse_search, parse_sort
from sandbox.seeds import stream_key
from sandbox.settings import PortalConfig, SandboxSettings
from sandbox.stats import Stats

WRONG_CAPTCHA = "Mã captcha không đúng."
WRONG_PASSWORD = "Tên đăng nhập hoặc mật khẩu không đúng."
LOCKED = "Tài khoản đã bị khoá (account locked). Vui lòng liên hệ cơ quan thuế quản lý."
NO_ORIGINAL = "Không tồn tại hồ sơ gốc của hóa đơn."
NOT_FOUND = "Không tồn tại hóa đơn."
PAGE_TOO_LARGE = "Số bản ghi trên một trang không được lớn hơn {limit}"
TTXLY_REQUIRED = "Vui lòng chọn kết quả kiểm tra (ttxly)."
BAD_STATE = "Trạng thái phân trang (state) không hợp lệ."
DEFAULT_PAGE_SIZE = 15
# The load balancer's sticky cookie (F5 BIG-IP style: encoded backend address and port).
LB_COOKIE = "BIGipServerPool_hoadondientu_api"
LB_BACKEND = "1745463488.20480.0000"

# (family, list) -> flow code
FLOW_OF = {
    ("query", "sold"): "ban_ra_dien_tu",
    ("sco-query", "sold"): "ban_ra_may_tinh_tien",
    ("query", "purchase"): "mua_vao_dien_tu",
    ("sco-query", "purchase"): "mua_vao_may_tinh_tien",
}


@dataclass
class Portal:
    """The live state of one sandbox portal."""

    dataset: Dataset
    config: PortalConfig
    captchas: CaptchaStore
    tokens: TokenIssuer
    cursors: CursorCodec
    limiter: RateLimiter
    faults: FaultInjector
    stats: Stats = field(default_factory=Stats)
    # Draws for the variant switches' content (PNG captchas).
    rng: random.Random = field(default_factory=random.Random)
    lock_overrides: dict[str, bool] = field(default_factory=dict)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(cls, settings: SandboxSettings, dataset: Dataset | None = None) -> Portal:
        rng = random.Random(settings.seed)
        return cls(
            dataset=dataset or Dataset(settings.dataset),
            config=settings.config,
            captchas=CaptchaStore(random.Random(rng.random())),
            tokens=TokenIssuer(settings.secret),
            # A key of its own, so that no cursor tag can ever double as a token signature.
            cursors=CursorCodec(hmac.new(settings.secret, b"paging-state", "sha256").digest()),
            limiter=RateLimiter(),
            faults=FaultInjector(random.Random(rng.random())),
            rng=random.Random(rng.random()),
        )

    def now(self) -> datetime:
        """The sandbox clock that decides which invoices are visible (shiftable for tests)."""
        frozen = self.config.clock_frozen_at
        base = datetime.fromisoformat(frozen) if frozen else datetime.now(UTC)
        return base + timedelta(seconds=self.config.time_offset_s)

    def is_locked(self, mst: str) -> bool:
        company = self.dataset.company(mst)
        default = company.locked if company is not None else False
        return self.lock_overrides.get(mst, default)

    def misfiled(self, ref: InvoiceRef) -> bool:
        """Whether `ref`'s export-xml is served under the other family (`misfiled_xml_rate`)."""
        rate = self.config.misfiled_xml_rate
        draw = stream_key("misfiled-xml", ref.company, ref.flow, ref.index) / 2**64
        return rate > 0 and draw < rate

    def set_locked(self, mst: str, locked: bool) -> None:
        self.lock_overrides[mst] = locked
        if locked:
            self.tokens.revoke(mst)


# A portal handler: the request, the portal state and the authenticated account (or None).
Handler = Callable[[web.Request, Portal, str | None], Awaitable[web.Response]]
PORTAL = web.AppKey("portal", Portal)
STARTED = web.RequestKey("started", float)  # time.monotonic() when the request arrived


# ---- captcha, login, profile ----------------------------------------------------------------


async def captcha(request: web.Request, portal: Portal, _account: str | None) -> web.Response:
    key, image = portal.captchas.issue(portal.config.captcha_ttl_s)
    content = image.svg if portal.config.captcha_format == "svg" else png_data_uri(portal.rng)
    response = json_response({"key": key, "content": content})
    response.set_cookie(LB_COOKIE, LB_BACKEND, path="/", httponly=True)
    return response


async def authenticate(request: web.Request, portal: Portal, _account: str | None) -> web.Response:
    body = await _json_body(request)
    if body is None:
        return json_response(_login_error("Dữ liệu đăng nhập không hợp lệ."), 400)
    if not portal.captchas.redeem(body.get("ckey"), body.get("cvalue")):
        status = 200 if portal.config.captcha_error_legacy else 401
        return json_response(_login_error(WRONG_CAPTCHA), status)
    username, password = body.get("username"), body.get("password")
    company = portal.dataset.company(username) if isinstance(username, str) else None
    if company is None or password != company.password:
        return json_response(_login_error(WRONG_PASSWORD), 401)
    if portal.is_locked(company.mst):
        return json_response(_login_error(LOCKED), 401)
    token = portal.tokens.issue(company.mst, portal.config.token_lifetime_s)
    prefix = "Bearer " if portal.config.login_token_bearer else ""
    return json_response({portal.config.login_token_key: prefix + token})


async def login_account(request: web.Request) -> str | None:
    """The account a login attempt is for (for per-account limits), if it names a known one."""
    body = await _json_body(request)
    username = body.get("username") if body else None
    return username if isinstance(username, str) else None


async def profile(request: web.Request, portal: Portal, account: str | None) -> web.Response:
    """The logged-in account, in the keys and order of the real answer (gdt-portal.md,
    "Profile"): `id` is the tax code, as `username` and `tinInfoTT86.mst` are; `dsMst` lists
    the one tax code the account reads (its own), the password is always blank."""
    company = portal.dataset.company(account or "")
    if company is None:
        return spring_error(request, 500, NOT_FOUND)
    return json_response(
        {
            "username": company.mst,
            "id": company.mst,
            "authorities": [],
            "accountNonLocked": not portal.is_locked(company.mst),
            "enabled": True,
            "type": 2,
            "groupId": None,
            "tinInfoTT86": {"mst": company.mst, "mstUTien": None, "dsMst": [company.mst]},
            "name": company.name,
            "fullName": company.name,
            "password": "",
        }
    )


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _login_error(message: str) -> dict[str, str]:
    return {"message": message, "path": "uri=/authenticate"}


# ---- lists --------------------------------------------------------------------------------


def list_handler(family: str, direction: str) -> Handler:
    flow = FLOW_OF[family, direction]

    async def handle(request: web.Request, portal: Portal, account: str | None) -> web.Response:
        assert account is not None
        try:
            return json_response(_list_page(request, portal, account, flow, direction))
        except SearchError as error:
            return spring_error(request, error.status, error.message, portal.config)

    return handle


def _list_page(
    request: web.Request, portal: Portal, account: str, flow: str, direction: str
) -> dict[str, Any]:
    config = portal.config
    size = _page_size(request.query.get("size"), config.max_page_size)
    search = parse_search(request.query.get("search"))
    sort = parse_sort(request.query.get("sort"), reject_multi=config.reject_multi_sort)
    if direction == "purchase" and config.purchase_requires_ttxly and not search.has("ttxly"):
        raise SearchError(500, TTXLY_REQUIRED)
    scope = f"{account}|{flow}|{search.canonical()}|{sort.canonical()}"
    position = _position(portal.cursors, scope, request.query.get("state"))
    refs = portal.dataset.refs(account, flow, search.start, search.end, portal.now())
    rows = sort.order([ref for ref in refs if search.matches(ref)])
    start = sort.index_after(rows, position) if position is not None else 0
    page = rows[start : start + size]
    more = start + size < len(rows)
    return {
        "datas": [portal.dataset.list_row(ref) for ref in page],
        "total": len(rows),
        "state": portal.cursors.encode(scope, Position.of(page[-1])) if more else None,
        "time": int((time.monotonic() - request[STARTED]) * 1000),
    }


def _page_size(value: str | None, limit: int) -> int:
    if value is None or value == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(value)
    except ValueError:
        raise SearchError(500, _conversion_error(value, "int")) from None
    if size < 1 or size > limit:
        raise SearchError(500, PAGE_TOO_LARGE.format(limit=limit))
    return size


def _position(cursors: CursorCodec, scope: str, state: str | None) -> Position | None:
    if not state:
        return None
    try:
        return cursors.decode(scope, state)
    except CursorError:
        raise SearchError(500, BAD_STATE) from None


# ---- detail and XML -------------------------------------------------------------------------


def detail_handler(family: str) -> Handler:
    async def handle(request: web.Request, portal: Portal, account: str | None) -> web.Response:
        found = _find(request, portal, account, family)
        if isinstance(found, web.Response):
            return found
        return json_response(portal.dataset.detail(found))

    return handle


def export_handler(family: str) -> Handler:
    other_family = "sco-query" if family == "query" else "query"

    async def handle(request: web.Request, portal: Portal, account: str | None) -> web.Response:
        found = _find(request, portal, account, family)
        if isinstance(found, web.Response):  # a misfiled invoice of the other family?
            elsewhere = _find(request, portal, account, other_family)
            if isinstance(elsewhere, web.Response) or not portal.misfiled(elsewhere):
                return found
            found = elsewhere
        elif portal.misfiled(found):
            return spring_error(request, 500, NOT_FOUND, portal.config)
        if not found.has_original:
            return spring_error(request, 500, NO_ORIGINAL, portal.config)
        name = f"{found.nbmst}_{found.khhdon}_{found.shdon}.zip"
        return web.Response(
            body=portal.dataset.export_zip(found),
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return handle


def _find(
    request: web.Request, portal: Portal, account: str | None, family: str
) -> InvoiceRef | web.Response:
    """The invoice the 4 key parameters name among `account`'s, or the portal's 500."""
    query = request.query
    nbmst, khhdon = query.get("nbmst", ""), query.get("khhdon", "")
    numbers: dict[str, int] = {}
    for name, java_type in (("khmshdon", "byte"), ("shdon", "int")):
        value = query.get(name, "")
        try:
            numbers[name] = int(value)
        except ValueError:
            return spring_error(request, 500, _conversion_error(value, java_type), portal.config)
    if not nbmst or not khhdon:
        return spring_error(request, 500, "Thiếu tham số nbmst hoặc khhdon.", portal.config)
    ref = portal.dataset.find(
        account or "", family, nbmst, khhdon, numbers["shdon"], numbers["khmshdon"], portal.now()
    )
    return ref if ref is not None else spring_error(request, 500, NOT_FOUND, portal.config)


def _conversion_error(value: str, java_type: str) -> str:
    return (
        f"Failed to convert value of type 'java.lang.String' to required type '{java_type}'; "
        f'nested exception is java.lang.NumberFormatException: For input string: "{value}"'
    )
