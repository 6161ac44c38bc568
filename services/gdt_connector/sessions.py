"""Sessions and portal tokens, kept in Redis so that every replica shares them.

- `session:<id>`: the account and its password, sealed (AES-GCM), for transparent re-logins;
  it lives `session_ttl` after its last use.
- `token:<account>`: the account's current portal token, sealed, with its expiry (the JWT `exp`,
  read without verifying: the connector is not the token's audience), a keyed fingerprint of
  the password it was obtained with and the tax code of the account the portal logged in
  (learned with the login, `account.py`). It expires with the token.

OpenSession reuses a live token when the same password is given again, so repeated imports do
not log in every time. Logins are single-flight per account across replicas: a Redis lock
(SET NX PX) elects one replica; the others wait for the token it stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import jwt
import structlog
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from gdtmesh import reasons
from gdtmesh.runtime.errors import ServiceError, error_info
from services.gdt_connector.account import LoggedIn, check_company
from services.gdt_connector.pacing import PREFIX
from services.gdt_connector.portal import unavailable
from services.gdt_connector.sealing import Sealer, SealError

log = structlog.get_logger(__name__)

LogIn = Callable[[str, str], Awaitable[LoggedIn]]
# Lifetime assumed for a token whose expiry cannot be read.
UNKNOWN_LIFETIME_S = 3600.0
LOCK_TTL_MS = 60_000
LOCK_POLL_S = 0.1
# Deletes the lock only if it is still ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Session:
    session_id: str
    account: str


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    expires_at: datetime  # of the token behind it
    account_tax_code: str  # the account the portal logged in


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # epoch seconds
    renew_at: float  # epoch seconds: after this, log in again before using it
    fingerprint: bytes  # of the password that obtained it
    obtained_at: float  # epoch seconds
    tax_code: str  # of the account the portal logged in

    def fresh(self, now: float) -> bool:
        return now < self.renew_at


class SessionStore:
    def __init__(
        self,
        redis: Redis,
        sealer: Sealer,
        log_in: LogIn,
        *,
        session_ttl_s: float,
        renew_margin_s: float,
    ) -> None:
        self._redis = redis
        self._sealer = sealer
        self._log_in = log_in
        self._session_ttl_ms = round(session_ttl_s * 1000)
        self._renew_margin_s = renew_margin_s
        self._release = redis.register_script(RELEASE)

    async def open(self, account: str, password: str, company: str = "") -> OpenedSession:
        """A new session for the account, logging in unless a live token was obtained with the
        same password. When `company` is given, the account the portal logged in must be it:
        otherwise FAILED_PRECONDITION (ACCOUNT_NOT_COMPANY) and no session."""
        fingerprint = self._sealer.fingerprint(password, account)

        def usable(token: Token | None) -> bool:
            return token is not None and token.fingerprint == fingerprint

        token = await self._token_where(account, password, usable)
        check_company(token.tax_code, company)
        session_id = secrets.token_urlsafe(24)
        key = _session_key(session_id)
        sealed = self._sealer.seal(password, key)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"account": account, "password": sealed})
            pipe.pexpire(key, self._session_ttl_ms)
            await pipe.execute()
        log.info("session opened", account=account, account_tax_code=token.tax_code)
        expires_at = datetime.fromtimestamp(token.expires_at, UTC)
        return OpenedSession(session_id, expires_at, token.tax_code)

    async def resolve(self, session_id: str) -> Session:
        """The session behind a handle (its idle timer restarts); UNAUTHENTICATED if gone."""
        key = _session_key(session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "account")
            pipe.pexpire(key, self._session_ttl_ms)
            account, _ = await pipe.execute()
        if account is None:
            raise ServiceError(
                grpc.StatusCode.UNAUTHENTICATED,
                "the session has expired or never existed; open a new session",
                [error_info(reasons.SESSION_EXPIRED)],
            )
        return Session(session_id, account.decode())

    async def token(self, session: Session) -> Token:
        """A token to call the portal with, logging in again when it is missing or near expiry
        (renewal happens before the portal refuses it)."""
        current = await self._stored_token(session.account)
        if current is not None and current.fresh(time.time()):
            return current
        return await self._token_where(session.account, await self._password(session), _any)

    async def renew(self, session: Session, rejected: str, sent_at: float) -> Token:
        """A token to replace `rejected`, which the portal refused (401) on a request sent at
        `sent_at`: another one, or one obtained since (a fresh login can repeat the same JWT
        when it happens within the same second)."""

        def replaced(token: Token | None) -> bool:
            return token is not None and (token.value != rejected or token.obtained_at > sent_at)

        password = await self._password(session)
        return await self._token_where(session.account, password, replaced)

    async def _token_where(
        self, account: str, password: str, acceptable: Callable[[Token | None], bool]
    ) -> Token:
        """The stored token if fresh and `acceptable`, else one from a single-flight login."""
        deadline = time.monotonic() + LOCK_TTL_MS / 1000
        while True:
            current = await self._stored_token(account)
            if current is not None and current.fresh(time.time()) and acceptable(current):
                return current
            async with self._login_lock(account) as won:
                if won:
                    current = await self._stored_token(account)
                    if current is not None and current.fresh(time.time()) and acceptable(current):
                        return current
                    return await self._fresh_login(account, password)
            if time.monotonic() > deadline:
                raise unavailable(
                    f"another login of account {account} is taking too long; retry shortly",
                    reasons.LOGIN_BUSY,
                )
            await asyncio.sleep(LOCK_POLL_S)

    async def _fresh_login(self, account: str, password: str) -> Token:
        login = await self._log_in(account, password)
        now = time.time()
        expires_at = _expiry(login.token, now)
        margin = min(self._renew_margin_s, (expires_at - now) / 4)
        fingerprint = self._sealer.fingerprint(password, account)
        renew_at = expires_at - margin
        token = Token(login.token, expires_at, renew_at, fingerprint, now, login.tax_code)
        await self._store_token(account, token)
        return token

    @contextlib.asynccontextmanager
    async def _login_lock(self, account: str) -> AsyncIterator[bool]:
        key = f"{PREFIX}:login-lock:{account}"
        owner = uuid.uuid4().hex
        won = bool(await self._redis.set(key, owner, nx=True, px=LOCK_TTL_MS))
        try:
            yield won
        finally:
            if won:
                await self._release(keys=[key], args=[owner])

    async def _store_token(self, account: str, token: Token) -> None:
        key = _token_key(account)
        mapping: dict[FieldT, EncodableT] = {
            "token": self._sealer.seal(token.value, key),
            "expires_at": repr(token.expires_at),
            "renew_at": repr(token.renew_at),
            "fingerprint": token.fingerprint,
            "obtained_at": repr(token.obtained_at),
            "tax_code": token.tax_code,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=mapping)
            pipe.pexpireat(key, round(token.expires_at * 1000))
            await pipe.execute()

    async def _stored_token(self, account: str) -> Token | None:
        key = _token_key(account)
        fields = await self._redis.hgetall(key)
        try:
            return Token(
                self._sealer.open(_as_bytes(fields[b"token"]), key),
                float(fields[b"expires_at"]),
                float(fields[b"renew_at"]),
                _as_bytes(fields[b"fingerprint"]),
                float(fields[b"obtained_at"]),
                _as_bytes(fields[b"tax_code"]).decode(),
            )
        except (KeyError, ValueError, SealError):
            # Absent, sealed by a replica with another key, or stored before tax codes were
            # kept: log in again.
            return None

    async def _password(self, session: Session) -> str:
        key = _session_key(session.session_id)
        sealed = await self._redis.hget(key, "password")
        try:
            if sealed is None:
                raise SealError("missing")
            return self._sealer.open(_as_bytes(sealed), key)
        except SealError:
            raise ServiceError(
                grpc.StatusCode.UNAUTHENTICATED,
                "the session can no longer log in again (expired, or sealed with another "
                "connector key); open a new session",
                [error_info(reasons.SESSION_EXPIRED)],
            ) from None


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _any(_token: Token | None) -> bool:
    return True


def _expiry(token: str, now: float) -> float:
    """The token's `exp` (epoch seconds), read without verifying the signature."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
        expires_at = float(claims["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        log.warning("portal token without a readable expiry", assumed_lifetime_s=UNKNOWN_LIFETIME_S)
        return now + UNKNOWN_LIFETIME_S
    return expires_at if expires_at > now else now + 60.0


def _session_key(session_id: str) -> str:
    return f"{PREFIX}:session:{session_id}"


def _token_key(account: str) -> str:
    return f"{PREFIX}:token:{account}"
