"""API-key authentication: every RPC but health and reflection carries
`authorization: Bearer <key>` (or `x-api-key: <key>`), and the key names the caller's tenant.

A server interceptor checks the key before the handler runs and makes the tenant available to it
through `current_tenant()`; a missing or unknown key is UNAUTHENTICATED.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc

from gdtmesh.runtime.handlers import wrap_handler

_TENANT = contextvars.ContextVar[str]("gdtmesh_tenant")
# A task id starts with its tenant and names the import's manifest in the bucket, so a tenant
# name keeps to the import id's characters (gdtmesh.rules.IMPORT_ID: no '.').
TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
MIN_KEY_CHARS = 16
# Services anyone may call: load balancers probe health, operators list services with grpcurl.
PUBLIC_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
UNAUTHENTICATED_TEXT = "missing or unknown API key: send `authorization: Bearer <key>`"


def parse_api_keys(spec: str) -> dict[str, str]:
    """`tenant:key,tenant2:key2` -> {key: tenant}; ValueError naming the tenant, never a key."""
    keys: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        tenant, sep, key = item.partition(":")
        if not sep or not TENANT_NAME.fullmatch(tenant):
            raise ValueError(
                "GDTMESH_API_KEYS must look like 'tenant:key,...' with tenant names of 1-63 "
                "letters, digits, '_' or '-'"
            )
        if len(key) < MIN_KEY_CHARS or any(char.isspace() for char in key):
            raise ValueError(
                f"GDTMESH_API_KEYS: the key of tenant {tenant!r} must be at least "
                f"{MIN_KEY_CHARS} characters without spaces"
            )
        if key in keys:
            raise ValueError(f"GDTMESH_API_KEYS: a key of tenant {tenant!r} is used twice")
        keys[key] = tenant
    if not keys:
        raise ValueError("GDTMESH_API_KEYS must name at least one tenant key")
    return keys


def current_tenant() -> str:
    """The authenticated tenant of the RPC being handled."""
    return _TENANT.get()


class ApiKeys:
    def __init__(self, keys: Mapping[str, str]) -> None:
        # Compare digests: equal lengths, and no key text lingers in comparisons.
        self._tenants = [(_digest(key), tenant) for key, tenant in keys.items()]

    def tenant_for(self, metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
        presented = _presented_key(metadata)
        if presented is None:
            return None
        digest = _digest(presented)
        found = None
        for known, tenant in self._tenants:  # no early exit: timing says nothing
            if hmac.compare_digest(known, digest):
                found = tenant
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _presented_key(metadata: Iterable[tuple[str, str | bytes]]) -> str | None:
    for name, value in metadata:
        if not isinstance(value, str):
            continue
        if name == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == "x-api-key" and value.strip():
            return value.strip()
    return None


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: ApiKeys) -> None:
        self._keys = keys

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(PUBLIC_METHOD_PREFIXES):
            return handler
        metadata = details.invocation_metadata or ()  # type: ignore[attr-defined]
        return _as_tenant(handler, self._keys.tenant_for(metadata))


def _as_tenant(handler: grpc.RpcMethodHandler, tenant: str | None) -> grpc.RpcMethodHandler:
    """The handler, run as `tenant`, or refusing the call when there is none."""

    async def admit(context: grpc.aio.ServicerContext) -> contextvars.Token[str]:
        if tenant is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_TEXT)
        return _TENANT.set(tenant)  # type: ignore[arg-type]

    def unary(inner: Callable[..., Any]) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = await admit(context)
            try:
                return await inner(request, context)
            finally:
                _TENANT.reset(token)

        return call

    def streaming(inner: Callable[..., Any]) -> Callable[..., Any]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = await admit(context)
            try:
                async for response in inner(request, context):
                    yield response
            finally:
                _TENANT.reset(token)

        return call

    return wrap_handler(handler, unary, streaming)
