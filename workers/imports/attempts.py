"""An activity's failed attempts, told apart from attempts that only waited for the portal.

The connector refuses a request that would wait long for the portal's budget, or for an account
backing off after a 429 (RESOURCE_EXHAUSTED with RetryInfo), and the activity retries after that
delay. Each such retry is a Temporal attempt but not a failure: with hundreds of companies
sharing the host budget a download batch waits through dozens of them, and a Temporal
`maximum_attempts` would record healthy invoices as failed. So the portal activities bound their
own failures, and their retry policies only the waits: an attempt that ended waiting is noted in
the heartbeat details; every other attempt (an error, a timeout, a lost worker) is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from temporalio import activity
from temporalio.converter import value_to_type
from temporalio.exceptions import ApplicationError

_WAITING = grpc.StatusCode.RESOURCE_EXHAUSTED.name


@dataclass
class AttemptLog:
    """Kept in the activity's heartbeat details, so the next attempt sees it."""

    waits: int = 0  # earlier attempts that ended waiting for the portal's budget
    last_problem: str = ""  # why the last failed attempt failed

    @classmethod
    def resume(cls) -> AttemptLog:
        """The log the previous attempt left (a fresh one on the first attempt)."""
        details = activity.info().heartbeat_details
        if details and isinstance(details[0], dict):
            return value_to_type(AttemptLog, details[0])
        return cls()

    def ended(self, problem: ApplicationError) -> None:
        """Note how this attempt ended (before it raises `problem`)."""
        if problem.type == _WAITING:
            self.waits += 1
        else:
            self.last_problem = problem.message

    def failures(self) -> int:
        """Earlier attempts of this activity that failed (waiting did not count)."""
        return activity.info().attempt - 1 - self.waits

    def gave_up(self, limit: int) -> str | None:
        """Why to stop when `limit` attempts have failed, else None."""
        failures = self.failures()
        if failures < limit:
            return None
        why = self.last_problem or "they timed out or their worker stopped"
        return f"gave up after {failures} failed attempts: {why}"
