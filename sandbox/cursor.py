"""Opaque `state` paging cursors: hex of a binary frame, like the real portal's.

The real state is hex of a frame holding base64 of `["<nbmst>","<khmshdon>","<khhdon>","<shdon>"]`
of the last row plus an opaque 16-byte tail. Ours has the same look; the tail is an HMAC over the
query the state belongs to and the position, so a state cannot be forged, edited or replayed
against another query or account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from datetime import date, timedelta

from sandbox.search import Position

_MAGIC = b"\x00\x10"
_FILLER = bytes.fromhex("00f07ffffffaf07ffffffa00")
_TRAILER = b"\x00\x42"
_TAG_BYTES = 16
_EPOCH = date(1970, 1, 1)


class CursorError(ValueError):
    """The state is not one this sandbox issued for this query."""


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, scope: str, position: Position) -> str:
        """The state for the page after `position` in the query identified by `scope`."""
        payload = _pack_position(position)
        encoded = base64.b64encode(payload)
        body = _MAGIC + struct.pack(">H", len(encoded)) + encoded + _FILLER
        frame = body + self._tag(scope, payload) + _TRAILER
        return (struct.pack(">H", len(frame)) + frame).hex()

    def decode(self, scope: str, state: str) -> Position:
        try:
            raw = bytes.fromhex(state)
            (length,) = struct.unpack_from(">H", raw)
            frame = raw[2:]
            if length != len(frame) or not frame.startswith(_MAGIC):
                raise CursorError("bad frame")
            (size,) = struct.unpack_from(">H", frame, len(_MAGIC))
            start = len(_MAGIC) + 2
            payload = base64.b64decode(frame[start : start + size], validate=True)
            rest = frame[start + size :]
            expected = _FILLER + self._tag(scope, payload) + _TRAILER
            if not hmac.compare_digest(rest, expected):
                raise CursorError("bad tag")
            return _unpack_position(payload)
        except (ValueError, struct.error, TypeError, KeyError, IndexError) as error:
            raise CursorError(str(error)) from None

    def _tag(self, scope: str, payload: bytes) -> bytes:
        digest = hmac.new(self._secret, scope.encode() + b"\x00" + payload, hashlib.sha256)
        return digest.digest()[:_TAG_BYTES]


def _pack_position(position: Position) -> bytes:
    days = (position.tdlap - _EPOCH).days
    key = [position.nbmst, str(position.khmshdon), position.khhdon, str(position.shdon)]
    return b"\x02" + struct.pack(">i", days) + json.dumps(key, separators=(",", ":")).encode()


def _unpack_position(payload: bytes) -> Position:
    if payload[:1] != b"\x02":
        raise CursorError("bad payload")
    (days,) = struct.unpack_from(">i", payload, 1)
    nbmst, khmshdon, khhdon, shdon = json.loads(payload[5:])
    if not isinstance(nbmst, str) or not isinstance(khhdon, str):
        raise CursorError("bad key")
    return Position(_EPOCH + timedelta(days=days), nbmst, int(khmshdon), khhdon, int(shdon))
