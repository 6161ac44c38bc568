"""The remote codec endpoint: lets the Temporal UI and CLI show gdtmesh's encrypted payloads in
clear to operators holding a codec token.

It speaks Temporal's remote codec protocol: `POST {endpoint}/decode` (and `/encode`) with a JSON
`temporal.api.common.v1.Payloads` body, answering the same shape. Decoding accepts every
configured key id (rotation: old histories stay readable), encoding uses the first.

Authorisation, on every POST: `Authorization: Bearer <token>` (the CLI's `--codec-auth`, or a
UI that passes its user's token), or the token as a path prefix, `{endpoint}/t/<token>`, for a
UI without a login (the UI appends `/decode` to the endpoint an operator enters). The token is
never logged. CORS: browsers on the configured origins (the Temporal UI) may call it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog
from aiohttp import web
from cryptography.exceptions import InvalidTag
from google.protobuf import json_format, message
from temporalio.api.common.v1 import Payload, Payloads

from gdtmesh.runtime.codec import EncryptionCodec

log = structlog.get_logger(__name__)

MIN_TOKEN_CHARS = 16
MAX_BODY_BYTES = 8 * 1024 * 1024  # a whole history's payloads at most
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
_TOKEN_PATH = "/t/{token}"


def parse_tokens(spec: str) -> list[str]:
    """`token1,token2` -> tokens; ValueError (never showing one) when any is too short."""
    tokens = [token.strip() for token in spec.split(",") if token.strip()]
    if any(len(token) < MIN_TOKEN_CHARS or "/" in token for token in tokens):
        raise ValueError(
            f"GDTMESH_CODEC_TOKENS: every token needs {MIN_TOKEN_CHARS}+ characters and no '/'"
        )
    return tokens


class _Tokens:
    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = [_digest(token) for token in tokens]

    def allow(self, presented: str | None) -> bool:
        if not presented:
            return False
        digest = _digest(presented)
        found = False
        for known in self._digests:  # no early exit: timing says nothing
            found |= hmac.compare_digest(known, digest)
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class CodecServer:
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()


def codec_app(
    keys: dict[str, bytes], tokens: Sequence[str], origins: Sequence[str], namespace: str
) -> web.Application:
    codec = EncryptionCodec(keys)
    allowed = _Tokens(tokens)

    async def transform(request: web.Request, direction: str) -> web.Response:
        if not allowed.allow(_presented_token(request)):
            return _error(request, origins, 401, "a codec token is required")
        asked = request.headers.get("X-Namespace")
        if asked and asked != namespace:
            return _error(request, origins, 403, f"this endpoint serves namespace {namespace!r}")
        try:
            payloads = json_format.Parse(await request.text(), Payloads())
            step = codec.decode if direction == "decode" else codec.encode
            result: list[Payload] = await step(payloads.payloads)
        except (json_format.ParseError, ValueError, InvalidTag, message.DecodeError) as error:
            return _error(request, origins, 400, _safe_reason(error))
        log.info("codec", direction=direction, payloads=len(result))
        body = json_format.MessageToJson(Payloads(payloads=result))
        return _cors(request, origins, web.json_response(text=body))

    async def preflight(request: web.Request) -> web.Response:
        return _cors(request, origins, web.Response(status=204))

    def route(direction: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            return await transform(request, direction)

        return handle

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    for prefix in ("", _TOKEN_PATH):
        for direction in ("decode", "encode"):
            app.router.add_post(f"{prefix}/{direction}", route(direction))
            app.router.add_route("OPTIONS", f"{prefix}/{direction}", preflight)
    return app


async def start_codec_server(
    listen: str,
    keys: dict[str, bytes],
    tokens: Sequence[str],
    origins: Sequence[str],
    namespace: str,
) -> CodecServer:
    """Serve the endpoint on `listen` (`host:port`, port 0 = any free port)."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(codec_app(keys, tokens, origins, namespace), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port))
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise OSError(f"cannot serve the codec endpoint on {listen}: {error}") from None
    bound = next(iter(runner.addresses))[1]
    return CodecServer(runner, bound)


def _presented_token(request: web.Request) -> str | None:
    if "token" in request.match_info:
        return request.match_info["token"]
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _cors(request: web.Request, origins: Sequence[str], response: web.Response) -> web.Response:
    origin = request.headers.get("Origin")
    if origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        response.headers["Vary"] = "Origin"
    return response


def _error(request: web.Request, origins: Sequence[str], status: int, message: str) -> web.Response:
    log.info("codec refused", status=status, reason=message)
    return _cors(request, origins, web.json_response({"message": message}, status=status))


def _safe_reason(error: Exception) -> str:
    """What was wrong with the body: the codec's own messages name key ids, never keys."""
    if isinstance(error, json_format.ParseError):
        return "the body is not a JSON temporal.api.common.v1.Payloads"
    if "unknown key id" in str(error):
        return str(error)
    return "a payload could not be decrypted (corrupt, or sealed with another key)"
