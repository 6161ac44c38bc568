"""Captchas like the GDT portal's `GET /api/captcha` content.

The portal uses svg-captcha (v1.4 layout) with its default font; this draws the same thing: a
200x40 SVG whose 6 characters are the font's outlines (the connector's table, derived from real
captchas) centred on evenly spaced slots, every path command nudged by the same +-0.1 px jitter,
grey fills #111-#444, 2 noise curves stroked #111-#999, and the 8 paths in the order a sort with
a random comparator leaves them. Measured on real captchas: glyph size and baseline do not vary
beyond that jitter, so neither do they here.
"""

from __future__ import annotations

import base64
import functools
import math
import random
import struct
import zlib
from dataclasses import dataclass

from gdtmesh.captcha_font.geometry import (
    ALPHABET,
    HEIGHT,
    LENGTH,
    WIDTH,
    Command,
    format_path_data,
    parse_path_data,
    slot_centre,
)
from gdtmesh.captcha_font.glyphs import OUTLINES

NOISE_CURVES = 2
JITTER = 0.1


@dataclass(frozen=True)
class Captcha:
    answer: str  # 6 chars from "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    svg: str  # 200x40 SVG like the real portal's `content`


def generate_captcha(rng: random.Random, answer: str | None = None) -> Captcha:
    """A fresh captcha (of `answer`, else a random one); one `rng` state, one captcha."""
    if answer is None:
        answer = "".join(rng.choice(ALPHABET) for _ in range(LENGTH))
    elif len(answer) != LENGTH or not set(answer) <= set(ALPHABET):
        raise ValueError(f"a captcha answer is {LENGTH} characters of {ALPHABET}")
    glyphs = [_glyph_path(char, index, rng) for index, char in enumerate(answer)]
    noise = [_noise_path(rng) for _ in range(NOISE_CURVES)]
    paths = _sort_randomly(noise + glyphs, rng)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0,0,{WIDTH},{HEIGHT}">{"".join(paths)}</svg>'
    )
    return Captcha(answer=answer, svg=svg)


def png_data_uri(rng: random.Random) -> str:
    """The captcha as some crawlers received it: a base64 PNG data URI (200x40, grey noise; no
    client here reads it, so it draws no characters)."""
    rows = b"".join(
        b"\x00" + bytes(rng.choice((0x44, 0xCC, 0xFF)) for _ in range(WIDTH)) for _ in range(HEIGHT)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 0, 0, 0, 0)  # 8-bit greyscale
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    png += chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _glyph_path(char: str, index: int, rng: random.Random) -> str:
    centre = slot_centre(index)
    commands = []
    for command in _outline(char):
        nudge = rng.uniform(-JITTER, JITTER)  # svg-captcha moves x and y of a command alike
        commands.append(command.shifted(centre + nudge, nudge))
    return f'<path fill="{_grey(rng, 1, 4)}" d="{format_path_data(commands)}"/>'


def _noise_path(rng: random.Random) -> str:
    def point(x_min: float, x_max: float) -> str:
        return f"{_js_int(rng, x_min, x_max)} {_js_int(rng, 1, HEIGHT - 1)}"

    middle = WIDTH / 2
    start, end = point(1, 21), point(WIDTH - 21, WIDTH - 1)
    control1, control2 = point(middle - 21, middle + 21), point(middle - 21, middle + 21)
    return (
        f'<path d="M{start} C{control1},{control2},{end}" stroke="{_grey(rng, 1, 9)}" fill="none"/>'
    )


def _sort_randomly(paths: list[str], rng: random.Random) -> list[str]:
    """What V8's TimSort does to a short array under svg-captcha's `.sort(() => Math.random() -
    0.5)`: a biased shuffle (real captchas most often keep both noise curves first)."""
    items = list(paths)

    def before() -> bool:  # the comparator: "negative" with probability 1/2
        return rng.random() < 0.5

    # The initial run: strictly "descending" pairs get reversed, "ascending" ones are kept.
    descending = before()
    run = 2
    while run < len(items) and before() == descending:
        run += 1
    if descending:
        items[:run] = reversed(items[:run])
    # Binary insertion of the rest.
    for start in range(run, len(items)):
        low, high = 0, start
        while low < high:
            middle = (low + high) // 2
            if before():
                high = middle
            else:
                low = middle + 1
        items.insert(low, items.pop(start))
    return items


def _grey(rng: random.Random, low: int, high: int) -> str:
    shade = f"{_js_int(rng, low, high):x}"
    return f"#{shade * 3}"


def _js_int(rng: random.Random, low: float, high: float) -> int:
    """svg-captcha's `random.int`: Math.round(low + Math.random() * (high - low))."""
    return math.floor(low + rng.random() * (high - low) + 0.5)


@functools.cache
def _outline(char: str) -> tuple[Command, ...]:
    return tuple(parse_path_data(OUTLINES[char]))
