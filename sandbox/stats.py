"""Counters the sandbox keeps as evidence of how clients behaved (served at /_sandbox/stats)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.limits import Verdict

VIOLATION_LOG_SIZE = 1000
REQUEST_LOG_SIZE = 10_000


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.since = datetime.now(UTC)
        self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._accounts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._faults: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()  # 429s by the limit that gave them
        self._violations: deque[dict[str, str]] = deque(maxlen=VIOLATION_LOG_SIZE)
        # (monotonic time answered, endpoint, status) of the last requests: their pace
        self._log: deque[tuple[float, str, str]] = deque(maxlen=REQUEST_LOG_SIZE)

    def record(self, endpoint: str, status: int | str, account: str | None) -> None:
        """One answered request; `status` is the HTTP status or "hang" / "cut"."""
        self._requests[endpoint][str(status)] += 1
        self._log.append((time.monotonic(), endpoint, str(status)))
        if account is not None:
            counts = self._accounts[account]
            counts["requests"] += 1
            if status == 429:
                counts["throttled"] += 1

    def answered_at(self, endpoint: str, status: int | str = 200) -> list[float]:
        """When (monotonic seconds) the last requests to `endpoint` were answered `status`:
        how fast a client sent them (in process only, not in `to_dict`)."""
        return [at for at, path, code in self._log if path == endpoint and code == str(status)]

    def fault(self, kind: str) -> None:
        self._faults[kind] += 1

    def verdict(self, account: str | None, verdict: Verdict, endpoint: str) -> None:
        """The rate limits' decision on one request: a refusal by the limit that gave it, and
        any violation of the account."""
        if not verdict.allowed and verdict.reason is not None:
            self._refused[verdict.reason] += 1
        if account is not None and verdict.violation is not None:
            self.violation(account, verdict.violation, endpoint, verdict.reason)

    def violation(self, account: str, kind: str, endpoint: str, limit: str | None = None) -> None:
        """`limit`: the limit the request was over ("account", "list", "detail", "export"), or
        the one that refused it during a backoff (None if it passed)."""
        counts = self._accounts[account]
        counts["violations"] += 1
        counts[kind] += 1
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        entry = {"account": account, "kind": kind, "endpoint": endpoint, "at": at}
        if limit is not None:
            entry["limit"] = limit
        self._violations.append(entry)

    def to_dict(self) -> dict[str, Any]:
        requests = {endpoint: dict(counts) for endpoint, counts in sorted(self._requests.items())}
        accounts = {account: _account_view(counts) for account, counts in self._accounts.items()}
        return {
            "since": self.since.isoformat(timespec="milliseconds"),
            "total": sum(sum(counts.values()) for counts in self._requests.values()),
            "throttled": sum(counts.get("429", 0) for counts in self._requests.values()),
            "violations": sum(view["violations"] for view in accounts.values()),
            "requests": requests,
            "accounts": accounts,
            "faults": dict(self._faults),
            "refused": dict(self._refused),
            "violation_log": list(self._violations),
        }


def _account_view(counts: Counter[str]) -> dict[str, int]:
    keys = ("requests", "throttled", "violations", "during_backoff", "over_rate")
    return {key: counts.get(key, 0) for key in keys}
