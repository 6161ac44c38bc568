"""Deterministic randomness: every value of the data set derives from the seed and the names of
what it describes, never from generation order, so any invoice can be built on its own."""

from __future__ import annotations

import hashlib
import random

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def stream_key(*parts: object) -> int:
    """A 64-bit key for a named stream, e.g. ``stream_key(seed, company, flow)``."""
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def mix64(value: int) -> int:
    """SplitMix64 finaliser: a bijective, well-mixed 64-bit hash of ``value``."""
    value = (value + GOLDEN) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


def item_hash(key: int, index: int) -> int:
    """The hash of item ``index`` of the stream ``key`` (distinct indices never collide)."""
    return mix64((key + index * GOLDEN) & MASK64)


def rng_for(*parts: object) -> random.Random:
    """A full random generator for one named thing (slower; for detail-level content)."""
    return random.Random(stream_key(*parts))
