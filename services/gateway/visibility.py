"""The custom search attributes the gateway sets on every task's workflow, so ListTasks can ask
Temporal's visibility store for one tenant's tasks by status, company, kind and time.

They are set when a task starts and carried over continue-as-new by Temporal. A server must
know them before the first task starts: the dev server gets them as `--search-attribute` flags
(`SEARCH_ATTRIBUTE_FLAGS`, used by `gdtmesh up` and the tests), and the gateway registers any
that are missing when it starts (`ensure_registered`), which covers the compose cluster.
"""

from __future__ import annotations

import datetime as dt

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

log = structlog.get_logger(__name__)

TENANT = SearchAttributeKey.for_keyword("GdtmeshTenant")
KIND = SearchAttributeKey.for_keyword("GdtmeshTaskKind")  # the StartTaskRequest.task member
COMPANY = SearchAttributeKey.for_keyword("GdtmeshCompany")
CREATE_TIME = SearchAttributeKey.for_datetime("GdtmeshCreateTime")  # the first run's start
_TYPES = {  # name -> (type for the CLI, type for the operator API)
    TENANT.name: ("Keyword", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
    KIND.name: ("Keyword", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
    COMPANY.name: ("Keyword", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD),
    CREATE_TIME.name: ("Datetime", IndexedValueType.INDEXED_VALUE_TYPE_DATETIME),
}
# `Name=Type` pairs for `temporal server start-dev --search-attribute`.
SEARCH_ATTRIBUTE_FLAGS = tuple(f"{name}={cli}" for name, (cli, _) in _TYPES.items())


def task_attributes(
    tenant: str, kind: str, company: str, created: dt.datetime
) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT, tenant),
            SearchAttributePair(KIND, kind),
            SearchAttributePair(COMPANY, company),
            SearchAttributePair(CREATE_TIME, created),
        ]
    )


async def ensure_registered(client: Client) -> None:
    """Register the attributes the namespace lacks; a server that refuses (no operator rights)
    is logged, and ListTasks then fails until an operator registers them."""
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        missing = {
            name: indexed
            for name, (_, indexed) in _TYPES.items()
            if name not in known.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
            log.info("search attributes registered", names=sorted(missing))
    except RPCError as error:
        log.error(
            "cannot register the task search attributes; ListTasks needs them",
            status=error.status.name,
            flags=" ".join(f"--search-attribute {flag}" for flag in SEARCH_ATTRIBUTE_FLAGS),
        )
