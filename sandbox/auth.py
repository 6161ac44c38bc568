"""Captcha keys and bearer tokens of the sandbox portal.

Captchas are single-use and expire. Tokens are JWTs shaped like the portal's (header exactly
`{"alg":"HS512"}`, payload keys in its order `sub` (the MST), `type` (2), `exp`, `iat`); the
sandbox also remembers which it issued, so that it can revoke them (the portal invalidates
sessions on its side too).
"""

from __future__ import annotations

import itertools
import random
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt

from sandbox.captcha import Captcha, generate_captcha

MAX_OPEN_CAPTCHAS = 200_000


@dataclass(frozen=True)
class _OpenCaptcha:
    answer: str
    expires_at: float


class CaptchaStore:
    """Captchas handed out and not yet used; each key can be redeemed once, before it expires."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._open: OrderedDict[str, _OpenCaptcha] = OrderedDict()
        self._counter = itertools.count(rng.randrange(1 << 24))
        self._process = rng.randbytes(5).hex()

    def issue(self, ttl_s: float) -> tuple[str, Captcha]:
        self._forget_expired()
        captcha = generate_captcha(self._rng)
        key = self._object_id()
        self._open[key] = _OpenCaptcha(captcha.answer, time.monotonic() + ttl_s)
        return key, captcha

    def redeem(self, key: object, answer: object) -> bool:
        """True when `answer` solves the open captcha `key`; the key is used up either way."""
        if not isinstance(key, str) or not isinstance(answer, str):
            return False
        entry = self._open.pop(key, None)
        if entry is None or entry.expires_at < time.monotonic():
            return False
        return answer.strip().upper() == entry.answer.upper()

    def _object_id(self) -> str:
        """24 hex like a MongoDB ObjectId: seconds, process id, counter."""
        counter = next(self._counter) & 0xFFFFFF
        return f"{int(time.time()):08x}{self._process}{counter:06x}"

    def _forget_expired(self) -> None:
        # Keys are stored in issue order and share one ttl, so expired ones sit at the front.
        now = time.monotonic()
        while self._open:
            key, entry = next(iter(self._open.items()))
            if entry.expires_at >= now and len(self._open) < MAX_OPEN_CAPTCHAS:
                break
            del self._open[key]


class TokenError(Exception):
    """The bearer token is missing, malformed, expired or revoked."""


class TokenIssuer:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        # account -> {token signature: expiry (epoch s)}
        self._issued: dict[str, dict[str, float]] = {}

    def issue(self, account: str, lifetime_s: float) -> str:
        now = time.time()
        expires = int(now + lifetime_s)
        claims = {"sub": account, "type": 2, "exp": expires, "iat": int(now)}
        # No "typ": the portal's header is {"alg":"HS512"} alone.
        token = jwt.encode(claims, self._secret, algorithm="HS512", headers={"typ": None})
        live = {sig: exp for sig, exp in self._issued.get(account, {}).items() if exp > now}
        live[_signature(token)] = expires
        self._issued[account] = live
        return token

    def verify(self, authorization: str | None) -> str:
        """The account (MST) a `Bearer <JWT>` header belongs to."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenError("missing bearer token")
        token = token.strip()
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS512"])
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError:
            raise TokenError("invalid token") from None
        account = claims.get("sub")
        if not isinstance(account, str) or _signature(token) not in self._issued.get(account, {}):
            raise TokenError("token revoked")
        return account

    def revoke(self, account: str | None) -> int:
        """Invalidate every token of `account` (all accounts when None); how many were live."""
        if account is None:
            count = sum(len(tokens) for tokens in self._issued.values())
            self._issued.clear()
            return count
        return len(self._issued.pop(account, {}))


def _signature(token: str) -> str:
    return token.rsplit(".", 1)[-1]
