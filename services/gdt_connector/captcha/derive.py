"""Derive the font table (glyphs.py) from labelled real captchas.

Each character's outline is the mean, command by command, of all its labelled drawings, taken
relative to the slot the character was drawn in: the font's own outline, with svg-captcha's
+-0.1 px jitter averaged away. Regenerate the table with

    .venv/bin/python -m services.gdt_connector.captcha.derive ../shared/gdt-samples/captcha \\
        > gdtmesh/captcha_font/glyphs.py
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from gdtmesh.captcha_font.geometry import (
    ALPHABET,
    Command,
    format_path_data,
    signature,
    slot_centre,
)

from .solver import CaptchaError, Glyph, read_drawing

Sample = tuple[str, str]  # (answer, svg)
_LINE_WIDTH = 84


def load_samples(folder: Path) -> list[Sample]:
    """The labelled captchas of a folder holding labels.csv (`file,label`) and the SVG files."""
    with (folder / "labels.csv").open(newline="", encoding="utf-8") as labels:
        rows = list(csv.DictReader(labels))
    return [(row["label"], (folder / row["file"]).read_text(encoding="utf-8")) for row in rows]


def derive_outlines(samples: Iterable[Sample]) -> dict[str, str]:
    """Character -> mean outline as path data, x relative to the slot centre, y absolute."""
    drawings: dict[str, list[list[Command]]] = defaultdict(list)
    for answer, svg in samples:
        for char, outline in slot_outlines(answer, read_drawing(svg).glyphs):
            drawings[char].append(outline)
    return {
        char: format_path_data(mean_outline(drawings[char]))
        for char in sorted(drawings, key=_alphabet_order)
    }


def slot_outlines(answer: str, glyphs: Sequence[Glyph]) -> list[tuple[str, list[Command]]]:
    """Each character of a labelled captcha with its outline shifted to x relative to its slot."""
    if len(glyphs) != len(answer):
        raise CaptchaError(f"{answer}: {len(glyphs)} glyphs for {len(answer)} characters")
    return [
        (
            char,
            [command.shifted(-slot_centre(index, len(answer)), 0.0) for command in glyph.commands],
        )
        for index, (char, glyph) in enumerate(zip(answer, glyphs, strict=True))
    ]


def mean_outline(drawings: Sequence[Sequence[Command]]) -> list[Command]:
    """Average drawings command by command; drawings with an odd signature (a bad label) lose."""
    by_signature: dict[str, list[Sequence[Command]]] = defaultdict(list)
    for drawing in drawings:
        by_signature[signature(drawing)].append(drawing)
    same = max(by_signature.values(), key=len)
    return [
        Command(
            group[0].letter,
            tuple(map(statistics.fmean, zip(*(c.coords for c in group), strict=True))),
        )
        for group in zip(*same, strict=True)
    ]


def render_module(outlines: dict[str, str]) -> str:
    """Python source of glyphs.py for `outlines`."""
    lines = [
        '"""Outlines of the portal captcha\'s characters: svg-captcha\'s default font at its',
        "default size, x relative to the centre of the character's slot, y absolute.",
        "",
        "Derived from labelled real captchas by `python -m services.gdt_connector.captcha.derive`;",
        "do not edit by hand.",
        '"""',
        "",
        "OUTLINES: dict[str, str] = {",
    ]
    for char, data in outlines.items():
        lines.append(f'    "{char}": (')
        lines.extend(f'        "{chunk}"' for chunk in _chunks(data))
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _chunks(data: str) -> list[str]:
    """Split path data at command letters into pieces that fit a source line."""
    chunks = [""]
    for piece in _commands_text(data):
        if chunks[-1] and len(chunks[-1]) + len(piece) > _LINE_WIDTH:
            chunks.append("")
        chunks[-1] += piece
    return chunks


def _commands_text(data: str) -> list[str]:
    pieces: list[str] = []
    for char in data:
        if char.isalpha():
            pieces.append("")
        pieces[-1] += char
    return pieces


def _alphabet_order(char: str) -> int:
    return ALPHABET.index(char) if char in ALPHABET else len(ALPHABET)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m services.gdt_connector.captcha.derive SAMPLES_DIR", file=sys.stderr)
        return 2
    sys.stdout.write(render_module(derive_outlines(load_samples(Path(argv[0])))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
