"""Settings of the gdt_connector service, from `GDTMESH_*` environment variables.

The portal variables (`GDTMESH_PORTAL_*`) describe the portal and how politely to use it; the
`GDTMESH_GDT_CONNECTOR_*` ones describe this service. Every value is checked at start-up.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import urlsplit

from gdtmesh.runtime.config import Secret, check_listen_address

AES_KEY_SIZES = (16, 24, 32)
# The endpoint classes with a budget of their own: GDTMESH_PORTAL_<CLASS>_RATE and _BURST.
ENDPOINT_BUDGETS = ("list", "detail", "export")


@dataclass(frozen=True)
class ConnectorConfig:
    gdt_connector_listen: str = "127.0.0.1:50061"
    # Portal base without the path prefix, e.g. https://hoadondientu.gdt.gov.vn or the sandbox.
    portal_base_url: str = "https://hoadondientu.gdt.gov.vn"
    # "/api" for the current base, "" for the legacy one (":30000/<path>").
    portal_path_prefix: str = "/api"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # AES-GCM key (base64 of 16, 24 or 32 bytes) sealing passwords and tokens in Redis. Every
    # replica needs the same key; unset means an ephemeral key for this process only.
    gdt_connector_secret_key: Secret = Secret("")

    # Timeouts (seconds): every portal request has one; lists of cash-register invoices are slow.
    portal_connect_timeout_seconds: float = 5.0
    portal_request_timeout_seconds: float = 20.0
    portal_list_timeout_seconds: float = 45.0
    # Largest portal body read (list pages are ~0.5 MB, export ZIPs a few hundred KB).
    portal_max_body_bytes: int = 32 * 1024 * 1024
    # Login attempts, each with a fresh captcha, before giving up (UNAVAILABLE).
    portal_captcha_attempts: int = 5

    # Pacing shared by every replica through Redis, in requests per second: per account (with a
    # burst) and for the whole host (sent smoothly, one every 1/rate at most).
    portal_account_rate: float = 1.0
    portal_account_burst: int = 3
    portal_global_rate: float = 20.0
    # And per account and endpoint class (list, detail, export-xml), each on top of the
    # account's: the portal limits them apart (gdt-portal.md, "Added 2026-12": lists answered 200
    # while detail calls drew 429s; 3 parallel downloads at the start drew 429s, ~1.7/s with 3 in
    # flight none). 0 = the account's value. Detail and export go one at a time (burst 1) at the
    # account's rate at most; lists, with no recorded limit of their own, keep the account's.
    portal_list_rate: float = 0.0
    portal_list_burst: int = 0
    portal_detail_rate: float = 0.0
    portal_detail_burst: int = 1
    portal_export_rate: float = 0.0
    portal_export_burst: int = 1
    # A request that would wait longer than this for its budget is refused (RESOURCE_EXHAUSTED
    # with RetryInfo) instead of holding a slot asleep. A shorter wait is slept: a sleeping
    # request costs a coroutine, a refusal a Temporal activity retry. Hundreds of companies at
    # a full host budget queue ~10-30 s deep, so 15 s keeps most requests out of the retry loop.
    portal_max_wait_seconds: float = 15.0
    # Backoff after a 429 without Retry-After: doubles per 429 in a row, from initial to max.
    portal_backoff_initial_seconds: float = 15.0
    portal_backoff_max_seconds: float = 900.0

    # How long an idle session (and the sealed password behind it) stays in Redis.
    gdt_connector_session_ttl_seconds: float = 24 * 3600
    # Renew a token this long before it expires.
    gdt_connector_token_renew_margin_seconds: float = 300.0
    # FetchInvoices: largest batch, downloads in flight per call.
    gdt_connector_fetch_max_batch: int = 200
    gdt_connector_fetch_concurrency: int = 4
    # Export ZIP safety: largest uncompressed total and compression ratio accepted.
    gdt_connector_zip_max_bytes: int = 20 * 1024 * 1024
    gdt_connector_zip_max_ratio: float = 200.0
    # SIGTERM: how long running calls may finish.
    gdt_connector_shutdown_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        check_listen_address("GDTMESH_GDT_CONNECTOR_LISTEN", self.gdt_connector_listen)
        _check_base_url(self.portal_base_url)
        _check_prefix(self.portal_path_prefix)
        if urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            # Only the scheme is named: the rest of the URL may carry the Redis password.
            scheme = urlsplit(self.redis_url).scheme or "none"
            raise ValueError(f"GDTMESH_REDIS_URL must be a redis:// URL, got scheme {scheme!r}")
        if self.gdt_connector_secret_key:
            decode_secret_key(self.gdt_connector_secret_key)
        for name in (
            "portal_connect_timeout_seconds",
            "portal_request_timeout_seconds",
            "portal_list_timeout_seconds",
            "portal_account_rate",
            "portal_global_rate",
            "portal_backoff_initial_seconds",
            "gdt_connector_session_ttl_seconds",
            "gdt_connector_zip_max_ratio",
        ):
            _check_positive(name, getattr(self, name))
        for name in (
            "portal_max_body_bytes",
            "portal_captcha_attempts",
            "portal_account_burst",
            "gdt_connector_fetch_max_batch",
            "gdt_connector_fetch_concurrency",
            "gdt_connector_zip_max_bytes",
        ):
            _check_positive(name, getattr(self, name))
        for name in ENDPOINT_BUDGETS:
            for unit in ("rate", "burst"):
                if getattr(self, f"portal_{name}_{unit}") < 0:
                    raise ValueError(
                        f"GDTMESH_PORTAL_{name.upper()}_{unit.upper()} must not be "
                        "negative (0 = the account's)"
                    )
        if self.portal_max_wait_seconds < 0 or self.gdt_connector_token_renew_margin_seconds < 0:
            raise ValueError(
                "GDTMESH_PORTAL_MAX_WAIT_SECONDS and "
                "GDTMESH_GDT_CONNECTOR_TOKEN_RENEW_MARGIN_SECONDS must not be negative"
            )
        if self.portal_backoff_max_seconds < self.portal_backoff_initial_seconds:
            raise ValueError(
                "GDTMESH_PORTAL_BACKOFF_MAX_SECONDS must be >= "
                "GDTMESH_PORTAL_BACKOFF_INITIAL_SECONDS"
            )

    @property
    def portal_root(self) -> str:
        """Base URL plus prefix: what every portal path is appended to."""
        return self.portal_base_url.rstrip("/") + self.portal_path_prefix

    def endpoint_budgets(self) -> dict[str, tuple[float, int]]:
        """Per endpoint class, (rate, burst) per account: 0s resolved to the account's."""
        return {
            name: (
                getattr(self, f"portal_{name}_rate") or self.portal_account_rate,
                getattr(self, f"portal_{name}_burst") or self.portal_account_burst,
            )
            for name in ENDPOINT_BUDGETS
        }

    @property
    def portal_host(self) -> str:
        """host:port of the portal, the scope of the global budget."""
        return urlsplit(self.portal_base_url).netloc


def decode_secret_key(value: Secret) -> bytes:
    try:
        key = base64.b64decode(value.reveal(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("GDTMESH_GDT_CONNECTOR_SECRET_KEY must be base64") from None
    if len(key) not in AES_KEY_SIZES:
        raise ValueError(
            f"GDTMESH_GDT_CONNECTOR_SECRET_KEY must decode to 16, 24 or 32 bytes, got {len(key)}"
        )
    return key


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"GDTMESH_{name.upper()} must be greater than 0, got {value!r}")


def _check_base_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"GDTMESH_PORTAL_BASE_URL must be an http(s) URL, got {url!r}")
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError(
            "GDTMESH_PORTAL_BASE_URL must be scheme://host[:port] only (the path goes in "
            f"GDTMESH_PORTAL_PATH_PREFIX), got {url!r}"
        )


def _check_prefix(prefix: str) -> None:
    if prefix and (not prefix.startswith("/") or prefix.endswith("/") or "?" in prefix):
        raise ValueError(f'GDTMESH_PORTAL_PATH_PREFIX must be "" or like "/api", got {prefix!r}')
