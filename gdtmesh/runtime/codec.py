"""AES-GCM payload codec for Temporal: workflow inputs, results and failure messages are
encrypted before they leave the process, so portal passwords never sit in history in clear.

Keys come from configuration as `id:base64key` pairs (`GDTMESH_CODEC_KEYS`); the first key
encrypts, every listed key decrypts (rotation: put the new key first, keep old ids around).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
_NONCE_BYTES = 12


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse `id:base64key,id2:base64key2` into an ordered mapping; raise ValueError if bad."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise ValueError("codec keys must look like 'id:base64key,...'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise ValueError(f"codec key {key_id!r} is not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise ValueError(f"codec key {key_id!r} must be 16, 24 or 32 bytes")
        keys[key_id] = key
    if not keys:
        raise ValueError("at least one codec key is required")
    return keys


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh random key in the `id:base64key` form (for local meshes and tests)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        self._encrypt_id = next(iter(keys))
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._encrypt_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(_NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, "encryption-key-id": self._encrypt_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get("encryption-key-id", b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"payload encrypted with unknown key id {key_id!r}")
            nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
            decoded.append(Payload.FromString(cipher.decrypt(nonce, sealed, None)))
        return decoded
