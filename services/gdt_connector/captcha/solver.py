"""Read the portal's SVG captcha without OCR.

Every character is drawn from one fixed font, so a glyph's sequence of path commands (its
signature, e.g. "MLLQLLQ...Z") names its character exactly. A glyph whose signature is unknown is
read by its shape instead: the nearest character by rasterised outline, refused when nothing is
near.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gdtmesh.captcha_font.geometry import (
    LENGTH,
    NUMBER,
    Command,
    PathDataError,
    bounding_box,
    parse_path_data,
    signature,
)

from .shape import Shape, shape_of
from .svg import SvgError, read_paths

# Measured on the labelled samples: a drawing is within 0.19 of its own character and at least
# 0.37 from any other; distorted drawings (scaled, curves drawn as lines, 4x the jitter) still
# read correctly within 0.57; random outlines stay above 0.75.
MAX_SHAPE_DISTANCE = 0.6
_TRANSLATE = re.compile(rf"\s*translate\(\s*({NUMBER})(?:[\s,]+({NUMBER}))?\s*\)\s*")


class CaptchaError(ValueError):
    """A captcha that cannot be read: not an SVG, not the expected layout, unknown glyphs."""


@dataclass(frozen=True)
class Glyph:
    """One filled path of a captcha: the drawing of one character."""

    commands: tuple[Command, ...]
    signature: str = field(init=False)
    left: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signature", signature(self.commands))
        object.__setattr__(self, "left", bounding_box(self.commands)[0])


@dataclass(frozen=True)
class Drawing:
    """A captcha taken apart: glyphs in reading order (left to right) and the noise curves."""

    glyphs: list[Glyph]
    noise: int


def read_drawing(svg: str) -> Drawing:
    """Split a captcha SVG into its glyphs, sorted by x, and count its noise curves."""
    try:
        paths = read_paths(svg)
    except SvgError as error:
        raise CaptchaError(f"unreadable captcha: {error}") from None
    glyphs: list[Glyph] = []
    for number, path in enumerate(paths, start=1):
        if not path.is_glyph:
            continue
        try:
            commands = parse_path_data(path.data)
        except PathDataError as error:
            raise CaptchaError(f"unreadable captcha: path {number}: {error}") from None
        if path.transform is not None:
            dx, dy = _translation(path.transform, number)
            commands = [command.shifted(dx, dy) for command in commands]
        glyphs.append(Glyph(tuple(commands)))
    glyphs.sort(key=lambda glyph: glyph.left)
    return Drawing(glyphs=glyphs, noise=len(paths) - len(glyphs))


class CaptchaSolver:
    """Reads captchas drawn with the font given as outlines (character -> path data)."""

    def __init__(self, outlines: Mapping[str, str], length: int | None = LENGTH) -> None:
        """`length`: the number of characters every captcha must have; None accepts any."""
        self.length = length
        templates = {char: _template(data) for char, data in outlines.items()}
        owners = Counter(outline_signature for outline_signature, _ in templates.values())
        # A signature two characters share proves nothing; those two are then read by shape.
        self._by_signature = {
            outline_signature: char
            for char, (outline_signature, _) in templates.items()
            if owners[outline_signature] == 1
        }
        self._shapes = [(char, shape) for char, (_, shape) in templates.items()]

    def solve(self, svg: str) -> str:
        """The answer to a captcha. Raises CaptchaError when it cannot be read."""
        glyphs = read_drawing(svg).glyphs
        if not glyphs:
            raise CaptchaError("unreadable captcha: no glyphs (filled paths) in the SVG")
        if self.length is not None and len(glyphs) != self.length:
            raise CaptchaError(
                f"unreadable captcha: {len(glyphs)} glyphs where {self.length} are expected"
            )
        return "".join(self._read(number, glyph) for number, glyph in enumerate(glyphs, 1))

    def read_glyph(self, glyph: Glyph) -> str | None:
        """The character a glyph draws, or None when it resembles none of them."""
        known = self._by_signature.get(glyph.signature)
        if known is not None:
            return known
        char, distance = self.nearest_by_shape(glyph)
        return char if distance <= MAX_SHAPE_DISTANCE else None

    def nearest_by_shape(self, glyph: Glyph) -> tuple[str, float]:
        """The character whose outline looks most like the glyph, and how far it is (0 = same)."""
        shape = _shape(glyph.commands)
        return min(
            ((char, shape.distance(template)) for char, template in self._shapes),
            key=lambda pair: pair[1],
        )

    def _read(self, number: int, glyph: Glyph) -> str:
        char = self.read_glyph(glyph)
        if char is None:
            raise CaptchaError(f"unreadable captcha: glyph {number} matches no known character")
        return char


def solve_captcha(svg: str) -> str:
    """The 6-character answer to a portal captcha SVG. Raises CaptchaError when unreadable."""
    return default_solver().solve(svg)


@functools.cache
def default_solver() -> CaptchaSolver:
    """The solver for the portal's font (built once: the table takes a few ms to load)."""
    from gdtmesh.captcha_font.glyphs import OUTLINES

    return CaptchaSolver(OUTLINES)


@functools.lru_cache(maxsize=256)
def _template(data: str) -> tuple[str, Shape]:
    """Signature and shape of a table outline (cached: solvers built from one table share them)."""
    commands = parse_path_data(data)
    return signature(commands), shape_of(commands)


def _shape(commands: Sequence[Command]) -> Shape:
    try:
        return shape_of(commands)
    except ValueError as error:
        raise CaptchaError(f"unreadable captcha: {error}") from None


def _translation(transform: str, number: int) -> tuple[float, float]:
    """svg-captcha's older versions place glyphs with `translate(x)`; nothing else is expected."""
    match = _TRANSLATE.fullmatch(transform)
    if match is None:
        raise CaptchaError(f"unreadable captcha: path {number} has an unsupported transform")
    return float(match.group(1)), float(match.group(2) or 0.0)
