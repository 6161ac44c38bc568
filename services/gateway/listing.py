"""ListTasks as a Temporal visibility query: the request's filters, always scoped to the
caller's tenant, and page tokens that only continue the query they came from.

Every value put in the query is validated first (tax code, kind, statuses, times), so nothing a
caller sends can change its shape.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Set
from dataclasses import dataclass

from google.protobuf import timestamp_pb2

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.runtime.errors import bad_request
from gdtmesh.taxcode import is_valid_tax_code
from services.gateway import visibility

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Our statuses in Temporal's words (TERMINATED covers a timeout too).
_EXECUTION_STATUSES = {
    gateway_pb2.TASK_STATUS_RUNNING: ("Running",),
    gateway_pb2.TASK_STATUS_SUCCEEDED: ("Completed",),
    gateway_pb2.TASK_STATUS_FAILED: ("Failed",),
    gateway_pb2.TASK_STATUS_CANCELLED: ("Canceled",),
    gateway_pb2.TASK_STATUS_TERMINATED: ("Terminated", "TimedOut"),
}


@dataclass(frozen=True)
class Page:
    query: str
    size: int
    temporal_token: bytes | None

    def next_token(self, temporal_token: bytes | None) -> str:
        """Our page token: Temporal's, bound to this query."""
        if not temporal_token:
            return ""
        document = {"q": _fingerprint(self.query), "t": base64.b64encode(temporal_token).decode()}
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def page_of(tenant: str, request: gateway_pb2.ListTasksRequest, kinds: Set[str]) -> Page:
    """The visibility query and page the request asks for; INVALID_ARGUMENT naming each bad
    field otherwise."""
    problems: dict[str, str] = {}
    clauses = [f"{visibility.TENANT.name} = '{tenant}'", "ExecutionStatus != 'ContinuedAsNew'"]
    for clause in (
        _statuses(request, problems),
        _company(request, problems),
        _kind(request, kinds, problems),
        *_times(request, problems),
    ):
        if clause:
            clauses.append(clause)
    size = request.page_size or DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        problems["page_size"] = f"must be 1-{MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE})"
    query = " AND ".join(clauses)
    token = _temporal_token(request.page_token, query, problems)
    if problems:
        raise bad_request(problems)
    return Page(query, size, token)


def _statuses(request: gateway_pb2.ListTasksRequest, problems: dict[str, str]) -> str:
    names: list[str] = []
    for index, status in enumerate(request.statuses):
        if status not in _EXECUTION_STATUSES:
            problems[f"statuses[{index}]"] = f"not a task status: {status}"
            continue
        names += _EXECUTION_STATUSES[status]
    if not names:
        return ""
    return "(" + " OR ".join(f"ExecutionStatus = '{name}'" for name in sorted(set(names))) + ")"


def _company(request: gateway_pb2.ListTasksRequest, problems: dict[str, str]) -> str:
    company = request.company_tax_code
    if not company:
        return ""
    if not is_valid_tax_code(company):
        problems["company_tax_code"] = "not a tax code"
        return ""
    return f"{visibility.COMPANY.name} = '{company}'"


def _kind(request: gateway_pb2.ListTasksRequest, kinds: Set[str], problems: dict[str, str]) -> str:
    if not request.kind:
        return ""
    if request.kind not in kinds:
        problems["kind"] = f"not a task kind; one of {', '.join(sorted(kinds))}"
        return ""
    return f"{visibility.KIND.name} = '{request.kind}'"


def _times(request: gateway_pb2.ListTasksRequest, problems: dict[str, str]) -> list[str]:
    after = _time(request, "created_after", problems)
    before = _time(request, "created_before", problems)
    if after and before and before <= after:
        problems["created_before"] = "must be later than created_after"
    column = visibility.CREATE_TIME.name
    return [
        f"{column} {operator} '{moment.isoformat().replace('+00:00', 'Z')}'"
        for operator, moment in ((">=", after), ("<", before))
        if moment is not None
    ]


def _time(
    request: gateway_pb2.ListTasksRequest, field: str, problems: dict[str, str]
) -> dt.datetime | None:
    if not request.HasField(field):  # type: ignore[arg-type]
        return None
    stamp: timestamp_pb2.Timestamp = getattr(request, field)
    try:
        return stamp.ToDatetime(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        problems[field] = "not a valid time"
        return None


def _temporal_token(text: str, query: str, problems: dict[str, str]) -> bytes | None:
    if not text:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(text.encode()))
        token = base64.b64decode(document["t"], validate=True)
        fingerprint = document["q"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        token, fingerprint = b"", ""
    if fingerprint != _fingerprint(query) or not token:
        problems["page_token"] = "not a page token of this query (repeat the first page's filters)"
        return None
    return token


def _fingerprint(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:16]
