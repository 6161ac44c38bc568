"""The captcha solver against the real labelled portal captchas in ../shared/gdt-samples/captcha."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gdtmesh.captcha_font.geometry import (
    ALPHABET,
    Command,
    format_path_data,
    parse_path_data,
    signature,
    slot_centre,
)
from gdtmesh.captcha_font.glyphs import OUTLINES
from services.gdt_connector.captcha import CaptchaError, CaptchaSolver, solve_captcha
from services.gdt_connector.captcha.derive import (
    derive_outlines,
    load_samples,
    mean_outline,
    slot_outlines,
)
from services.gdt_connector.captcha.solver import Glyph, read_drawing

SAMPLES = Path(__file__).resolve().parents[2] / "../shared/gdt-samples/captcha"

Sample = tuple[str, str]


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    if not (SAMPLES / "labels.csv").is_file():
        pytest.skip(f"real captcha samples not found at {SAMPLES} (a clone without ../shared)")
    return load_samples(SAMPLES)


def test_every_real_sample_is_solved(samples: list[Sample]) -> None:
    started = time.perf_counter()
    wrong = [(answer, solve_captcha(svg)) for answer, svg in samples]
    elapsed = time.perf_counter() - started
    wrong = [(answer, read) for answer, read in wrong if read != answer]
    rate = 1 - len(wrong) / len(samples)
    per_captcha_ms = elapsed / len(samples) * 1e3
    print(f"real samples: {rate:.1%} of {len(samples)} solved, {per_captcha_ms:.1f} ms each")
    assert len(samples) >= 70
    assert not wrong, f"solved {rate:.1%}; (label, read): {wrong}"


def test_table_is_derived_from_the_samples(samples: list[Sample]) -> None:
    """glyphs.py is what derive.py makes of the samples (within 0.05 px, so that a few more
    samples, which move the means by hundredths of a pixel, do not make it stale)."""
    derived = derive_outlines(samples)
    assert sorted(derived) == sorted(OUTLINES) == sorted(ALPHABET)
    for char, data in OUTLINES.items():
        table, fresh = parse_path_data(data), parse_path_data(derived[char])
        assert signature(table) == signature(fresh), f"{char}: regenerate glyphs.py (derive.py)"
        gaps = [
            abs(a - b)
            for t, f in zip(table, fresh, strict=True)
            for a, b in zip(t.coords, f.coords, strict=True)
        ]
        assert max(gaps) <= 0.05, f"{char}: regenerate glyphs.py (derive.py)"


def test_every_character_has_its_own_signature() -> None:
    signatures = {signature(parse_path_data(data)) for data in OUTLINES.values()}
    assert len(signatures) == len(ALPHABET)


def test_leave_one_out(samples: list[Sample]) -> None:
    """Each sample read by a table derived from the other samples only: by signature first (the
    solver), and by shape alone (the fallback), glyph by glyph."""
    labelled = [(answer, read_drawing(svg).glyphs) for answer, svg in samples]
    per_sample = [slot_outlines(answer, glyphs) for answer, glyphs in labelled]
    solved = shape_read = glyphs_total = 0
    for k, (answer, glyphs) in enumerate(labelled):
        # Only the characters of sample k change when it is left out.
        outlines = dict(OUTLINES)
        for char in set(answer):
            others = [
                o for j, pairs in enumerate(per_sample) if j != k for c, o in pairs if c == char
            ]
            outlines[char] = format_path_data(mean_outline(others))
        solver = CaptchaSolver(outlines)
        solved += solver.solve(samples[k][1]) == answer
        shape_read += sum(
            solver.nearest_by_shape(g)[0] == c for c, g in zip(answer, glyphs, strict=True)
        )
        glyphs_total += len(glyphs)
    print(
        f"leave-one-out: {solved}/{len(samples)} captchas solved; "
        f"shape alone reads {shape_read}/{glyphs_total} glyphs"
    )
    assert solved == len(samples)  # measured: 70/70
    assert shape_read / glyphs_total >= 0.99  # measured: 420/420


Rewrite = Callable[[list[Command]], str]


def _rewrite_glyphs(svg: str, rewrite: Rewrite) -> str:
    def replace(match: re.Match[str]) -> str:
        commands = parse_path_data(match.group(2))
        return f'{match.group(1)}d="{rewrite(commands)}"'

    return re.sub(r'(<path fill="#[0-9a-f]{3}" )d="([^"]*)"', replace, svg)


def _without_tiny_segments(commands: list[Command]) -> str:
    """The font's tiny jitter line-tos dropped: another signature, the same look."""
    kept = [commands[0]]
    for command in commands[1:]:
        pen = kept[-1].coords[-2:] if kept[-1].coords else (0.0, 0.0)
        tiny = (
            command.letter == "L"
            and sum(abs(a - b) for a, b in zip(pen, command.coords, strict=True)) < 0.3
        )
        if not tiny:
            kept.append(command)
    return format_path_data(kept)


def _relative_and_scaled(commands: list[Command]) -> str:
    """The same outline 15% larger, written with relative commands and implicit separators."""
    parts, pen = [], (0.0, 0.0)
    for command in commands:
        coords = [value * 1.15 for value in command.coords]
        relative = [value - pen[i % 2] for i, value in enumerate(coords)]
        parts.append(command.letter.lower() + ",".join(f"{value:.3f}" for value in relative))
        if coords:
            pen = (coords[-2], coords[-1])
        if command.letter == "M":
            start = pen
        if command.letter == "Z":
            pen = start
    return "".join(parts)


@pytest.mark.parametrize("rewrite", [_without_tiny_segments, _relative_and_scaled])
def test_reads_glyphs_written_differently(samples: list[Sample], rewrite: Rewrite) -> None:
    for answer, svg in samples[:10]:
        assert solve_captcha(_rewrite_glyphs(svg, rewrite)) == answer


def test_reads_translated_glyphs(samples: list[Sample]) -> None:
    """svg-captcha's older layout positions glyphs with transform="translate(x)"."""
    answer, svg = samples[0]
    shifted = _rewrite_glyphs(
        svg, lambda commands: format_path_data(c.shifted(-30, 2) for c in commands)
    )
    shifted = shifted.replace('<path fill="#', '<path transform="translate(30, -2)" fill="#')
    assert solve_captcha(shifted) == answer


SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">'


def _random_blobs(count: int) -> str:
    rng = random.Random(7)
    paths = []
    for _ in range(count):
        points = " ".join(f"L{rng.uniform(0, 200):.2f} {rng.uniform(0, 40):.2f}" for _ in range(12))
        paths.append(f'<path fill="#333" d="M{rng.uniform(0, 200):.2f} 20 {points}Z"/>')
    return SVG_HEAD + "".join(paths) + "</svg>"


@pytest.mark.parametrize(
    ("svg", "message"),
    [
        ("", "not an SVG document"),
        ("garbage", "not an SVG document"),
        ("<svg", "not an SVG document"),
        ("<html><body/></html>", "root element <html>"),
        (SVG_HEAD + "</svg>", "no glyphs"),
        (SVG_HEAD + '<path d="M1 1 C5 5,6 6,9 9" stroke="#555" fill="none"/></svg>', "no glyphs"),
        (SVG_HEAD + '<path fill="#222" d="M1 1 L"/></svg>', "wrong number of coordinates"),
        (
            SVG_HEAD + '<path fill="#222" d="M1 1 A1 1 0 0 1 5 5Z"/></svg>',
            "unsupported path command",
        ),
        (SVG_HEAD + '<path fill="#222" transform="rotate(5)" d="M1 1 L5 5Z"/></svg>', "transform"),
        (_random_blobs(5), "5 glyphs where 6 are expected"),
        (_random_blobs(6), "matches no known character"),
        ('<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>', "DOCTYPE"),
        (SVG_HEAD + " " * 300_000 + "</svg>", "allowed"),
        (b"<svg/>", "expected SVG text"),
        # Long digit runs before junk: linear-time regexes, no catastrophic backtracking.
        (SVG_HEAD + '<path fill="#222" d="M' + "1" * 50_000 + '#"/></svg>', "unexpected"),
        (
            SVG_HEAD + f'<path fill="#2" transform="translate({"1" * 50_000}x)" d="M1 1"/></svg>',
            "transform",
        ),
    ],
)
def test_unreadable_input_raises_captcha_error(svg: str, message: str) -> None:
    with pytest.raises(CaptchaError, match=message):
        solve_captcha(svg)


def test_stroke_without_fill_is_noise(samples: list[Sample]) -> None:
    answer, svg = samples[0]
    assert 'fill="none"' in svg
    assert solve_captcha(svg.replace(' fill="none"', "")) == answer


def test_captcha_error_is_a_value_error() -> None:
    assert issubclass(CaptchaError, ValueError)


def test_glyph_with_unknown_signature_falls_back_to_shape() -> None:
    """A drawing of "W" missing its last command has another signature, yet reads as W."""
    commands = parse_path_data(OUTLINES["W"])[:-2]
    glyph = Glyph(tuple(commands))
    solver = CaptchaSolver(OUTLINES)
    assert glyph.signature not in {signature(parse_path_data(d)) for d in OUTLINES.values()}
    assert solver.read_glyph(glyph) == "W"


def test_shared_signature_is_not_trusted() -> None:
    """A signature two table entries share proves nothing: such glyphs are read by shape."""
    mirrored_z = [
        Command(c.letter, tuple(-v if i % 2 == 0 else v for i, v in enumerate(c.coords)))
        for c in parse_path_data(OUTLINES["Z"])
    ]
    outlines = {**OUTLINES, "mirrored Z": format_path_data(mirrored_z)}
    glyph = Glyph(tuple(parse_path_data(OUTLINES["Z"])))
    assert CaptchaSolver(outlines).read_glyph(glyph) == "Z"


def test_solver_without_fixed_length() -> None:
    outlines = [parse_path_data(OUTLINES[char]) for char in "7AB"]
    placed = [[c.shifted(slot_centre(i), 0) for c in outline] for i, outline in enumerate(outlines)]
    paths = "".join(f'<path fill="#111" d="{format_path_data(p)}"/>' for p in placed)
    svg = SVG_HEAD + paths + "</svg>"
    assert CaptchaSolver(OUTLINES, length=None).solve(svg) == "7AB"
    with pytest.raises(CaptchaError, match="3 glyphs where 6 are expected"):
        solve_captcha(svg)
