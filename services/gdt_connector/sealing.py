"""AES-GCM sealing of the secrets the connector keeps in Redis (portal passwords and tokens).

Each value is bound to the Redis key it is stored under (associated data), so a sealed value
copied to another key does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value did not open: another key, or tampered with."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        # A separate key for fingerprints, so they reveal nothing about the encryption key.
        self._mac_key = hmac.new(key, b"gdtmesh connector fingerprint", hashlib.sha256).digest()

    @classmethod
    def ephemeral(cls) -> Sealer:
        return cls(AESGCM.generate_key(bit_length=256))

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, context.encode()).decode()
        except (InvalidTag, ValueError, UnicodeDecodeError):
            raise SealError("sealed value does not open with this key") from None

    def fingerprint(self, secret: str, context: str) -> bytes:
        """A keyed digest to recognise a secret again without storing it."""
        message = context.encode() + b"\x00" + secret.encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).digest()
