"""Request pacing shared by every connector replica, kept in Redis.

The budgets are checked and reserved together in one Lua script, on Redis server time (`TIME`),
so replicas on different clocks agree: one per portal account, one per account and endpoint class
(list, detail, export-xml: the portal limits them apart) and one for the whole portal host. A
request is given the earliest moment all of them allow, and sleeps until then; one whose moment
is later than `max_wait` is refused instead of slept on, and its RPC answers RESOURCE_EXHAUSTED
with the delay of whichever budget binds.

The account budget and the endpoint class budgets are GCRAs (generic cell rate algorithm: one
"theoretical arrival time" per account, per account and class). The host budget is a calendar
of slots, one every 1/rate, each taken by one request: sends to the host are never closer than
that, and a request that waits for its account (or its class) takes a slot at its own moment
without throwing away the free slots before it, which other accounts use
(a single host arrival time would jump ahead to that moment: with hundreds of accounts a quarter
of the host budget went unused). The slots are bitmaps in one Redis hash, a field per bucket.

A 429 blocks its account until a backoff has passed (Retry-After when the portal sends it,
otherwise exponential from `backoff_initial`) and halves the host rate for that window. No
request for a blocked account is admitted, login included.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import timedelta

import structlog
from redis.asyncio import Redis

from gdtmesh import reasons
from gdtmesh.runtime.errors import retry_later
from services.gdt_connector.metrics import PACING_BOUND, PACING_REFUSED, PACING_WAIT_SECONDS

log = structlog.get_logger(__name__)

PREFIX = "gdtmesh:{connector}"  # one hash slot, so the scripts' keys also work on a cluster
MICROS = 1_000_000
# The host calendar: slots of 1/rate, a bitmap of SLOTS_PER_BUCKET per hash field (Redis Lua's
# `bit` works on 32-bit integers); passed buckets one admission clears at most.
SLOTS_PER_BUCKET = 30
_FORGET_PER_CALL = 50
# The endpoint (metrics.endpoint_of) -> its endpoint class budget (config.ENDPOINT_BUDGETS).
ENDPOINT_CLASS = {"list": "list", "detail": "detail", "export_xml": "export"}
_NO_CLASS = [0, 1]

# KEYS: account TAT, host calendar (hash: bucket -> bitmap of its slots taken, "lo" -> oldest
#       bucket kept), account blocked-until, host slow-until, endpoint class TAT (all µs, server
#       time)
# ARGV: account interval µs, account burst, host interval µs (one slot), slots per bucket,
#       max wait µs, passed buckets to forget at most, class interval µs (0: no class budget),
#       class burst
# -> {0, wait µs, budget} admitted after waiting; {1, wait µs, budget} over budget;
#    {2, wait µs} blocked. `budget` names the one that set the moment: "account", "class",
#    "host", or "" (no wait).
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then return {2, blocked - now} end
local a_interval, a_burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local spacing, size, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local width = spacing * size
local slow = tonumber(redis.call('GET', KEYS[4]) or '0') > now
local current = math.floor(now / width)
local lo = tonumber(redis.call('HGET', KEYS[2], 'lo') or current)
local upto = math.min(current - 1, lo + tonumber(ARGV[6]) - 1)
for b = lo, upto do redis.call('HDEL', KEYS[2], string.format('%d', b)) end
redis.call('HSET', KEYS[2], 'lo', string.format('%d', math.max(lo, upto + 1)))
if redis.call('PTTL', KEYS[2]) < 0 then
  redis.call('PEXPIRE', KEYS[2], math.ceil(max_wait / 1000) + 1000)
end
local a_tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local earliest = math.max(a_tat - (a_burst - 1) * a_interval, now)
local by = ''
if earliest > now then by = 'account' end
local c_interval, c_burst = tonumber(ARGV[7]), tonumber(ARGV[8])
local c_tat = now
if c_interval > 0 then
  c_tat = math.max(tonumber(redis.call('GET', KEYS[5]) or '0'), now)
  local c_earliest = c_tat - (c_burst - 1) * c_interval
  if c_earliest > earliest then earliest, by = c_earliest, 'class' end
end
local first = math.floor(earliest / width)
for bucket = first, math.floor((now + max_wait) / width) do
  local field = string.format('%d', bucket)
  local taken = tonumber(redis.call('HGET', KEYS[2], field) or '0')
  local slot = 0
  if bucket == first then slot = math.ceil((earliest - bucket * width) / spacing) end
  while slot < size do
    local at = bucket * width + slot * spacing
    if at - now > max_wait then break end
    local bit_of = bit.lshift(1, slot)
    -- slowed after a 429: only every other slot, half the rate
    if bit.band(taken, bit_of) == 0 and (not slow or (bucket * size + slot) % 2 == 0) then
      redis.call('HSET', KEYS[2], field, bit.bor(taken, bit_of))
      local ttl = math.ceil(((bucket + 1) * width - now) / 1000) + 1000
      if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
      local new_tat = math.max(a_tat, at) + a_interval
      redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX',
                 math.ceil((new_tat - now) / 1000) + 1000)
      if c_interval > 0 then
        local new_c = math.max(c_tat, at) + c_interval
        redis.call('SET', KEYS[5], string.format('%d', new_c), 'PX',
                   math.ceil((new_c - now) / 1000) + 1000)
      end
      if at > earliest then by = 'host' end
      return {0, at - now, by}
    end
    slot = slot + 1
  end
end
if earliest <= now + max_wait then by = 'host' end
return {1, math.max(earliest, now + max_wait + spacing) - now, by}
"""

# KEYS: account blocked-until, account strikes, global slow-until, account TAT
# ARGV: Retry-After µs (-1 if none), initial backoff µs, max backoff µs, strike memory ms,
#       account interval µs, account burst
# -> µs until the account may send again
# A 429 that arrives while the account is already blocked comes from a request that was in flight
# when the block began: it extends the block (the portal counts from its own 429) but is not a
# new strike, so N concurrent requests do not double the backoff N times. When the block ends the
# account resumes at its steady rate, not with a full burst.
THROTTLED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local strikes
if current > now then
  strikes = tonumber(redis.call('GET', KEYS[2]) or '1')
else
  strikes = redis.call('INCR', KEYS[2])
end
local delay = tonumber(ARGV[1])
if delay < 0 then
  delay = math.min(tonumber(ARGV[2]) * 2 ^ (strikes - 1), tonumber(ARGV[3]))
end
local blocked = math.max(current, now + delay)
local ttl = math.ceil((blocked - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', blocked), 'PX', ttl)
redis.call('PEXPIRE', KEYS[2], ttl + tonumber(ARGV[4]))
if tonumber(redis.call('GET', KEYS[3]) or '0') < blocked then
  redis.call('SET', KEYS[3], string.format('%d', blocked), 'PX', ttl)
end
local interval, burst = tonumber(ARGV[5]), tonumber(ARGV[6])
local resume_tat = blocked + (burst - 1) * interval
if resume_tat > tonumber(redis.call('GET', KEYS[4]) or '0') then
  redis.call('SET', KEYS[4], string.format('%d', resume_tat), 'PX',
             math.ceil((resume_tat - now) / 1000) + 1000)
end
return blocked - now
"""


class Pacer:
    def __init__(
        self,
        redis: Redis,
        *,
        host: str,
        account_rate: float,
        account_burst: int,
        global_rate: float,
        max_wait_s: float,
        backoff_initial_s: float,
        backoff_max_s: float,
        endpoint_budgets: Mapping[str, tuple[float, int]] | None = None,
    ) -> None:
        """`endpoint_budgets`: endpoint class -> (rate, burst) per account, on top of the
        account's budget (`ConnectorConfig.endpoint_budgets()`)."""
        self._redis = redis
        # Not the old GCRA key (a string): replicas of both versions may briefly share a Redis.
        self._host_key = f"{PREFIX}:pace:host:{host}"
        self._slow_key = f"{PREFIX}:slow:{host}"
        self._budget = [
            round(MICROS / account_rate),
            account_burst,
            round(MICROS / global_rate),
            SLOTS_PER_BUCKET,
            round(max_wait_s * MICROS),
            _FORGET_PER_CALL,
        ]
        # Only budgets tighter than the account's: the others could never bind.
        self._classes = {
            name: [round(MICROS / rate), burst]
            for name, (rate, burst) in (endpoint_budgets or {}).items()
            if rate < account_rate or burst < account_burst
        }
        self._backoff = [round(backoff_initial_s * MICROS), round(backoff_max_s * MICROS)]
        # A 429 within this long after a block ends counts as "in a row" (doubles the backoff).
        self._strike_memory_ms = round(10 * backoff_initial_s * 1000)
        self._admit = redis.register_script(ADMIT)
        self._throttled = redis.register_script(THROTTLED)

    async def admit(self, account: str, endpoint: str | None = None) -> float:
        """Wait for the account's, its `endpoint` class's (metrics.endpoint_of) and the host's
        budget (returns the seconds waited), or raise RESOURCE_EXHAUSTED."""
        name = ENDPOINT_CLASS.get(endpoint or "")
        budget = self._classes.get(name or "")
        keys = [
            self._account_key(account),
            self._host_key,
            self._blocked_key(account),
            self._slow_key,
            f"{PREFIX}:pace:{name}:{account}" if budget else self._account_key(account),
        ]
        verdict, wait_us, *bound = await self._admit(
            keys=keys, args=[*self._budget, *(budget or _NO_CLASS)]
        )
        wait = int(wait_us) / MICROS
        if int(verdict) == 2:
            raise _backing_off(account, wait)
        by = {b"class": name, b"account": "account", b"host": "host"}.get(bound[0])
        if by is not None:
            PACING_BOUND.labels(by).inc()
        if int(verdict) == 1:
            PACING_REFUSED.labels("budget").inc()
            which = "" if by in (None, "account") else f" ({'the host' if by == 'host' else by})"
            raise retry_later(
                timedelta(seconds=wait),
                f"the portal request budget for account {account}{which} is used up; "
                f"retry in {wait:.1f}s",
                reason=reasons.RATE_LIMITED,
            )
        if wait > 0:
            PACING_WAIT_SECONDS.inc(wait)
            await asyncio.sleep(wait)
            # A sibling may have met a 429 while this request slept for its slot.
            if (blocked := await self.blocked_for(account)) > 0:
                raise _backing_off(account, blocked)
        return wait

    async def throttled(self, account: str, retry_after_s: float | None) -> float:
        """Record a 429 for `account`; the seconds it must now wait."""
        retry_after = -1 if retry_after_s is None else round(retry_after_s * MICROS)
        keys = [
            self._blocked_key(account),
            f"{PREFIX}:strikes:{account}",
            self._slow_key,
            self._account_key(account),
        ]
        args = [retry_after, *self._backoff, self._strike_memory_ms, *self._budget[:2]]
        delay_us = await self._throttled(keys=keys, args=args)
        return int(delay_us) / MICROS

    async def blocked_for(self, account: str) -> float:
        """Seconds the account is still blocked (0 when it is not)."""
        value = await self._redis.get(self._blocked_key(account))
        if value is None:
            return 0.0
        seconds, micros = await self._redis.time()
        return max(0.0, (int(value) - (seconds * MICROS + micros)) / MICROS)

    def _blocked_key(self, account: str) -> str:
        return f"{PREFIX}:blocked:{account}"

    def _account_key(self, account: str) -> str:
        return f"{PREFIX}:pace:account:{account}"


def _backing_off(account: str, wait: float) -> Exception:
    PACING_REFUSED.labels("backoff").inc()
    return retry_later(
        timedelta(seconds=wait),
        f"account {account} is backing off after the portal rate limited it; "
        f"retry in {math.ceil(wait)}s",
        reason=reasons.PORTAL_BACKOFF,
    )
