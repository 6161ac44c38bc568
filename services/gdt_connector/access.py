"""The portal's data endpoints as one session sees them: the bearer token attached, and a 401
answered by one transparent re-login and one retry (failure table: "401 on data call")."""

from __future__ import annotations

import time
from collections.abc import Mapping

import structlog

from gdtmesh import reasons
from services.gdt_connector.portal import PortalClient, Reply, unavailable
from services.gdt_connector.sessions import Session, SessionStore, Token

log = structlog.get_logger(__name__)


class SessionPortal:
    def __init__(self, client: PortalClient, store: SessionStore, session: Session) -> None:
        self._client = client
        self._store = store
        self.session = session
        self._token: Token | None = None

    @property
    def account(self) -> str:
        return self.session.account

    async def get(
        self, path: str, params: Mapping[str, str], *, timeout_s: float | None = None
    ) -> Reply:
        sent_at = time.time()
        if self._token is None or not self._token.fresh(sent_at):  # long calls renew in time
            self._token = await self._store.token(self.session)
        token = self._token
        reply = await self._send(path, params, token.value, timeout_s)
        if reply.status != 401:
            return reply
        log.info("portal token refused, logging in again", account=self.account)
        # `token` is the one this request used, even if a sibling request already renewed it.
        token = self._token = await self._store.renew(self.session, token.value, sent_at)
        reply = await self._send(path, params, token.value, timeout_s)
        if reply.status == 401:
            raise unavailable(
                f"GET {path}: the portal refused a freshly issued token for account {self.account}",
                reasons.PORTAL_TOKEN_REFUSED,
            )
        return reply

    async def _send(
        self, path: str, params: Mapping[str, str], token: str, timeout_s: float | None
    ) -> Reply:
        return await self._client.send(
            "GET", path, account=self.account, params=params, token=token, timeout_s=timeout_s
        )
