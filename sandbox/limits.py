"""Request rate limits: one token bucket per account, one per account and endpoint class (list,
detail, export), one for the whole portal, and storms.

After a 429 the account counts as blocked for the backoff window the sandbox announced
(Retry-After) or, without that header, a minimum a polite client must wait. Requests that arrive
while blocked, or beyond the account's rate, are rate-limit violations: the evidence that a client
is not polite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandbox.settings import LIMIT_CLASS_OF, PortalConfig

DURING_BACKOFF = "during_backoff"
OVER_RATE = "over_rate"


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 = available now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self) -> None:
        self._tokens -= 1

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


@dataclass(frozen=True)
class Verdict:
    """Whether a request may pass; if not, why and when a retry could succeed."""

    allowed: bool
    # The limit that refused it: "storm" | "global" | "account" | an endpoint class's limit
    # ("list" | "detail" | "export", per account).
    reason: str | None = None
    wait_s: float = 0.0
    violation: str | None = None  # DURING_BACKOFF | OVER_RATE

    def retry_after(self) -> int:
        """The whole seconds to announce in a Retry-After header."""
        return max(1, math.ceil(self.wait_s))


class RateLimiter:
    def __init__(self) -> None:
        self._global: TokenBucket | None = None
        self._accounts: dict[str, TokenBucket] = {}
        self._classes: dict[tuple[str, str], TokenBucket] = {}
        self._blocked_until: dict[str, float] = {}
        self._storm_until = 0.0

    def check(
        self,
        account: str | None,
        now: float,
        config: PortalConfig,
        endpoint_class: str | None = None,
    ) -> Verdict:
        """Decide on one request of `endpoint_class` (the latency and fault class, e.g. "xml");
        a request that passes consumes a token of every bucket it goes through. Over the
        account's limit or its endpoint class's, it is an over-rate violation."""
        blocked = account is not None and now < self._blocked_until.get(account, 0.0)
        violation = DURING_BACKOFF if blocked else None
        if now < self._storm_until:
            return Verdict(False, "storm", self._storm_until - now, violation)
        limit_class = LIMIT_CLASS_OF.get(endpoint_class or "")
        per_account = [
            ("account", self._account_bucket(account, now, config)),
            (limit_class, self._class_bucket(account, limit_class, now, config)),
        ]
        for reason, bucket in per_account:
            if bucket is not None and (wait := bucket.wait_time(now)) > 0:
                return Verdict(False, reason, wait, violation or OVER_RATE)
        global_bucket = self._global_bucket(now, config)
        if global_bucket is not None and (wait := global_bucket.wait_time(now)) > 0:
            return Verdict(False, "global", wait, violation)
        for bucket in (*(bucket for _, bucket in per_account), global_bucket):
            if bucket is not None:
                bucket.take()
        return Verdict(True, violation=violation)

    def block(self, account: str, until: float) -> None:
        """Record that `account` was told to back off until `until`."""
        self._blocked_until[account] = max(until, self._blocked_until.get(account, 0.0))

    def blocked_until(self, account: str) -> float:
        return self._blocked_until.get(account, 0.0)

    def start_storm(self, seconds: float, now: float) -> None:
        self._storm_until = now + seconds

    def storm_remaining(self, now: float) -> float:
        return max(0.0, self._storm_until - now)

    def reset(self) -> None:
        """Forget backoff windows (buckets and storms stay)."""
        self._blocked_until.clear()

    def _account_bucket(
        self, account: str | None, now: float, config: PortalConfig
    ) -> TokenBucket | None:
        if account is None or config.rate_per_account is None:
            return None
        bucket = self._accounts.get(account)
        if bucket is None or (bucket.rate, bucket.burst) != (
            config.rate_per_account,
            config.burst_per_account,
        ):
            bucket = TokenBucket(config.rate_per_account, config.burst_per_account, now)
            self._accounts[account] = bucket
        return bucket

    def _class_bucket(
        self, account: str | None, limit_class: str | None, now: float, config: PortalConfig
    ) -> TokenBucket | None:
        if account is None or limit_class is None:
            return None
        limit = config.endpoint_limits[limit_class]
        if limit.rate is None:
            return None
        bucket = self._classes.get((account, limit_class))
        if bucket is None or (bucket.rate, bucket.burst) != (limit.rate, limit.burst):
            bucket = TokenBucket(limit.rate, limit.burst, now)
            self._classes[account, limit_class] = bucket
        return bucket

    def _global_bucket(self, now: float, config: PortalConfig) -> TokenBucket | None:
        if config.rate_global is None:
            return None
        if self._global is None or (self._global.rate, self._global.burst) != (
            config.rate_global,
            config.burst_global,
        ):
            self._global = TokenBucket(config.rate_global, config.burst_global, now)
        return self._global
