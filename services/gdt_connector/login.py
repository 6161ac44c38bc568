"""Logging in to the portal: fetch a captcha, read it, authenticate; a wrong captcha is retried
with a fresh one, a bounded number of times.

The answers mean (gdt-portal.md, "Login"): a token -> success; a captcha message -> try again;
"khoá"/"locked" -> PERMISSION_DENIED; any other refusal -> UNAUTHENTICATED. The portal's own
message is passed on (without the password, should it ever echo it back). A login also learns
the tax code of the account it logged in (`account.py`: the token's subject, else one profile
request).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import grpc
import structlog

from gdtmesh import reasons
from gdtmesh.runtime.errors import ServiceError, error_info
from services.gdt_connector.account import LoggedIn, account_tax_code
from services.gdt_connector.captcha import CaptchaError
from services.gdt_connector.portal import (
    PortalClient,
    Reply,
    normalized,
    server_error,
    unavailable,
)

log = structlog.get_logger(__name__)

CAPTCHA_PATH = "/captcha"
LOGIN_PATH = "/security-taxpayer/authenticate"
LOCKED_MARKERS = ("khoá", "khóa", "locked")
CAPTCHA_MARKERS = ("captcha",)
# Where crawlers found the JWT in the login answer; some got it already prefixed "Bearer ".
TOKEN_KEYS = ("token", "access_token", "Token")
BEARER = "bearer "

Solver = Callable[[str], str]


class WrongCaptcha(Exception):
    """The portal refused the captcha answer; a fresh captcha may succeed."""


@dataclass(frozen=True)
class Captcha:
    key: str
    svg: str
    cookies: dict[str, str]


class PortalLogin:
    def __init__(self, client: PortalClient, solve: Solver, attempts: int) -> None:
        self._client = client
        self._solve = solve
        self._attempts = attempts

    async def log_in(self, account: str, password: str) -> LoggedIn:
        """A fresh portal token for `account` and the account's tax code, or ServiceError
        saying why not."""
        for attempt in range(1, self._attempts + 1):
            captcha = await self._captcha(account)
            try:
                answer = await asyncio.to_thread(self._solve, captcha.svg)
            except CaptchaError as error:
                log.warning("captcha unreadable", account=account, attempt=attempt, why=str(error))
                continue
            try:
                token = await self._authenticate(account, password, captcha, answer)
            except WrongCaptcha:
                log.info("captcha refused", account=account, attempt=attempt)
                continue
            tax_code = await account_tax_code(self._client, account, token)
            log.info("logged in", account=account, attempt=attempt, account_tax_code=tax_code)
            return LoggedIn(token, tax_code)
        raise unavailable(
            f"could not get past the portal captcha for account {account} in "
            f"{self._attempts} attempts; try again later",
            reasons.CAPTCHA_FAILED,
        )

    async def _captcha(self, account: str) -> Captcha:
        reply = await self._client.send("GET", CAPTCHA_PATH, account=account)
        if reply.status != 200:
            raise server_error(reply, "captcha")
        data = reply.json("captcha")
        key = data.get("key") if isinstance(data, dict) else None
        svg = data.get("content") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key or not isinstance(svg, str):
            raise unavailable(
                "captcha: the portal's answer has no key or content", reasons.PORTAL_MALFORMED
            )
        return Captcha(key, captcha_svg(svg), dict(reply.cookies))

    async def _authenticate(
        self, account: str, password: str, captcha: Captcha, answer: str
    ) -> str:
        body = {"username": account, "password": password, "ckey": captcha.key, "cvalue": answer}
        reply = await self._client.send(
            "POST", LOGIN_PATH, account=account, json_body=body, cookies=captcha.cookies
        )
        return read_login_reply(reply, account, password)


def captcha_svg(content: str) -> str:
    """The SVG of a captcha's `content`: the SVG itself or an SVG data URI. Any other image
    (some crawlers were sent a base64 PNG data URI) is refused with CAPTCHA_UNSUPPORTED, naming
    it: the solver reads SVG outlines only."""
    if not content.startswith("data:"):
        return content
    media, _, data = content[5:].partition(",")
    kind, *params = media.split(";")
    if kind.strip().lower() == "image/svg+xml":
        try:
            raw = base64.b64decode(data, validate=True) if "base64" in params else data.encode()
            return unquote(raw.decode())
        except (ValueError, UnicodeDecodeError):
            pass
    encoding = " (base64)" if "base64" in params else ""
    raise unavailable(
        f"captcha: the portal sent the captcha as a {kind or 'bare'} data URI{encoding}, not "
        "as SVG; only SVG captchas can be solved, so no login is possible from this answer",
        reasons.CAPTCHA_UNSUPPORTED,
    )


def login_token(data: Any) -> str | None:
    """The JWT of a login answer under any of TOKEN_KEYS, without a "Bearer " prefix."""
    if not isinstance(data, dict):
        return None
    token = next((data[key] for key in TOKEN_KEYS if isinstance(data.get(key), str)), None)
    if token is not None and token[: len(BEARER)].lower() == BEARER:
        token = token[len(BEARER) :].strip()
    return token or None


def read_login_reply(reply: Reply, account: str, password: str) -> str:
    """The token in a login answer; WrongCaptcha or ServiceError otherwise."""
    if reply.status not in (200, 400, 401):
        raise server_error(reply, "login")
    token = login_token(reply.json("login"))
    if reply.status == 200 and token:
        return token
    message = reply.message().replace(password, "***") if password else reply.message()
    text = normalized(message)
    if any(marker in text for marker in CAPTCHA_MARKERS):
        raise WrongCaptcha()
    if any(marker in text for marker in LOCKED_MARKERS):
        raise ServiceError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"the portal account {account} is locked ({message}); it must be unlocked with "
            "the tax office before invoices can be read",
            [error_info(reasons.ACCOUNT_LOCKED, account=account)],
        )
    if reply.status == 200 and not message:
        raise unavailable(
            "login: the portal answered without a token or a reason", reasons.PORTAL_MALFORMED
        )
    raise ServiceError(
        grpc.StatusCode.UNAUTHENTICATED,
        f"the portal refused the login of account {account} ({message or f'HTTP {reply.status}'}); "
        "check the username and password stored for this company",
        [error_info(reasons.LOGIN_REFUSED, account=account)],
    )
