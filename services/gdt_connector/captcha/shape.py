"""What a glyph looks like, independent of how its path is written.

A glyph is rasterised (non-zero fill rule, as SVG fills it) onto a GRID x GRID bitmap stretched
over its bounding box; two glyphs compare by the overlap of their bitmaps plus the difference of
their aspect ratios. This reads a character even when its path commands differ from the table's
(another font renderer, rounding, relative commands), at any position and a moderately different
size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from gdtmesh.captcha_font.geometry import Command, bounding_box

GRID = 24
CURVE_STEPS = 4
ASPECT_WEIGHT = 1.0

Point = tuple[float, float]


@dataclass(frozen=True)
class Shape:
    """A glyph's bitmap (bit `row * GRID + column`) and its width / height."""

    bits: int
    aspect: float

    def distance(self, other: Shape) -> float:
        """0 for identical shapes; about 0.1 between renderings of one character."""
        union = (self.bits | other.bits).bit_count()
        overlap = (self.bits & other.bits).bit_count() / union if union else 0.0
        return (1.0 - overlap) + ASPECT_WEIGHT * abs(math.log(self.aspect / other.aspect))


def shape_of(commands: Sequence[Command]) -> Shape:
    """Rasterise an outline. Raises ValueError for an outline without area."""
    x0, y0, x1, y1 = bounding_box(commands)
    width, height = x1 - x0, y1 - y0
    if width <= 0 or height <= 0:
        raise ValueError("outline has no area")
    edges = _edges(commands)
    bits = 0
    for row in range(GRID):
        y = y0 + (row + 0.5) * height / GRID
        for left, right in _filled_spans(edges, y):
            first = max(0, math.ceil((left - x0) / width * GRID - 0.5))
            last = min(GRID - 1, math.ceil((right - x0) / width * GRID - 0.5) - 1)
            for column in range(first, last + 1):
                bits |= 1 << (row * GRID + column)
    return Shape(bits=bits, aspect=width / height)


def _edges(commands: Sequence[Command]) -> list[tuple[Point, Point]]:
    """Straight edges of every sub-path, curves flattened, every sub-path closed."""
    edges: list[tuple[Point, Point]] = []
    start = pen = (0.0, 0.0)
    for command in commands:
        points = list(command.points())
        if command.letter == "M":
            if pen != start:
                edges.append((pen, start))
            start = pen = points[0]
            continue
        if command.letter == "Z":
            path: list[Point] = [start]
        elif command.letter == "L":
            path = points
        else:
            path = _flatten(pen, points)
        for point in path:
            edges.append((pen, point))
            pen = point
    if pen != start:
        edges.append((pen, start))
    return edges


def _flatten(pen: Point, points: list[Point]) -> list[Point]:
    """Points along a quadratic (one control point) or cubic (two) Bezier curve from `pen`."""
    controls = [pen, *points]
    return [_bezier(controls, step / CURVE_STEPS) for step in range(1, CURVE_STEPS + 1)]


def _bezier(controls: list[Point], t: float) -> Point:
    while len(controls) > 1:  # de Casteljau
        controls = [
            (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            for a, b in itertools.pairwise(controls)
        ]
    return controls[0]


def _filled_spans(edges: list[tuple[Point, Point]], y: float) -> list[tuple[float, float]]:
    """The x intervals on the horizontal line `y` that the non-zero rule fills."""
    crossings: list[tuple[float, int]] = []
    for (xa, ya), (xb, yb) in edges:
        if (ya <= y < yb) or (yb <= y < ya):
            x = xa + (y - ya) * (xb - xa) / (yb - ya)
            crossings.append((x, 1 if yb > ya else -1))
    crossings.sort()
    spans: list[tuple[float, float]] = []
    winding = 0
    for x, direction in crossings:
        if winding == 0:
            span_start = x
        winding += direction
        if winding == 0:
            spans.append((span_start, x))
    return spans
