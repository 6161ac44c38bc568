"""Read the `<path>` elements of an untrusted SVG document, safely.

The portal's captcha is small (12-16 KB); anything far larger, or anything declaring a DOCTYPE or
entities (the door to entity-expansion attacks, which the standard library parser does not close),
is refused before parsing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

MAX_SVG_CHARS = 256 * 1024
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class SvgError(ValueError):
    """An SVG document this module refuses or cannot read."""


@dataclass(frozen=True)
class PathElement:
    """The attributes of one `<path>` that matter for reading a captcha."""

    data: str
    fill: str | None
    stroke: str | None
    transform: str | None

    @property
    def is_glyph(self) -> bool:
        """Glyphs are filled; noise curves are stroked with `fill="none"` (older svg-captcha:
        "transparent"). A stroke without any fill attribute counts as noise too."""
        if self.fill is None:
            return self.stroke is None
        return self.fill.strip().lower() not in {"none", "transparent"}


def read_paths(svg: str) -> list[PathElement]:
    """The `<path>` elements of `svg` in document order."""
    if not isinstance(svg, str):
        raise SvgError(f"expected SVG text, got {type(svg).__name__}")
    if len(svg) > MAX_SVG_CHARS:
        raise SvgError(f"SVG is {len(svg)} characters, more than the {MAX_SVG_CHARS} allowed")
    if _DECLARATION.search(svg):
        raise SvgError("SVG declares a DOCTYPE or entities; refused")
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError as error:
        raise SvgError(f"not an SVG document (XML parser: {error})") from None
    if _local_name(root.tag) != "svg":
        raise SvgError(f"not an SVG document (root element <{_local_name(root.tag)}>)")
    return [
        PathElement(
            data=element.get("d", ""),
            fill=element.get("fill"),
            stroke=element.get("stroke"),
            transform=element.get("transform"),
        )
        for element in root.iter()
        if _local_name(element.tag) == "path"
    ]


def _local_name(tag: object) -> str:
    # Comments and processing instructions have a callable tag; namespaced tags look like {ns}name.
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
