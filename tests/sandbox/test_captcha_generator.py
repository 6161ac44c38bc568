"""The sandbox captcha generator: readable by the connector's solver, shaped like the portal's."""

from __future__ import annotations

import random
import re
import statistics
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from gdtmesh.captcha_font.geometry import (
    ALPHABET,
    bounding_box,
    parse_path_data,
    slot_centre,
)
from gdtmesh.captcha_font.glyphs import OUTLINES
from sandbox.captcha import Captcha, generate_captcha
from services.gdt_connector.captcha import solve_captcha
from services.gdt_connector.captcha.derive import load_samples
from services.gdt_connector.captcha.solver import read_drawing

SAMPLES = Path(__file__).resolve().parents[2] / "../shared/gdt-samples/captcha"
SVG = "{http://www.w3.org/2000/svg}"
GLYPH_PATH = re.compile(r'<path fill="(#[0-9a-f]{3})" d="([^"]+)"/>')
NOISE_PATH = re.compile(
    r'<path d="M(\d+) (\d+) C(\d+) (\d+),(\d+) (\d+),(\d+) (\d+)" stroke="(#[0-9a-f]{3})"'
    r' fill="none"/>'
)


@pytest.fixture(scope="module")
def captchas() -> list[Captcha]:
    rng = random.Random(20251)
    return [generate_captcha(rng) for _ in range(1000)]


def test_every_generated_captcha_is_solved(captchas: list[Captcha]) -> None:
    started = time.perf_counter()
    wrong = [(c.answer, solve_captcha(c.svg)) for c in captchas]
    elapsed = time.perf_counter() - started
    wrong = [(answer, read) for answer, read in wrong if answer != read]
    print(
        f"generated: {1 - len(wrong) / len(captchas):.1%} of {len(captchas)} solved, "
        f"{elapsed / len(captchas) * 1e3:.1f} ms each"
    )
    assert not wrong


def test_structure_is_the_portals(captchas: list[Captcha]) -> None:
    for captcha in captchas[:200]:
        assert len(captcha.answer) == 6 and set(captcha.answer) <= set(ALPHABET)
        root = ElementTree.fromstring(captcha.svg)
        assert root.tag == f"{SVG}svg"
        assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
            "200",
            "40",
            "0,0,200,40",
        )
        assert [child.tag for child in root] == [f"{SVG}path"] * 8
        glyphs = GLYPH_PATH.findall(captcha.svg)
        noise = NOISE_PATH.findall(captcha.svg)
        assert len(glyphs) == 6 and len(noise) == 2
        assert {fill for fill, _ in glyphs} <= {"#111", "#222", "#333", "#444"}
        for *numbers, stroke in noise:
            x0, y0, x1, y1, x2, y2, x3, y3 = map(int, numbers)
            assert 1 <= x0 <= 21 and 79 <= x1 <= 121 and 79 <= x2 <= 121 and 179 <= x3 <= 199
            assert all(1 <= y <= 39 for y in (y0, y1, y2, y3))
            assert stroke in {f"#{d * 3}" for d in "123456789"}


def test_size_is_realistic(captchas: list[Captcha]) -> None:
    sizes = [len(captcha.svg) for captcha in captchas]
    assert 12_000 <= statistics.mean(sizes) <= 16_000  # real ones: 14.4 KB on average
    assert min(sizes) > 8_000 and max(sizes) < 22_000


def test_path_order_is_shuffled(captchas: list[Captcha]) -> None:
    def layout(captcha: Captcha) -> str:
        return "".join(
            "n" if 'fill="none"' in p else "g" for p in re.findall(r"<path[^>]+>", captcha.svg)
        )

    layouts = {layout(captcha) for captcha in captchas}
    assert len(layouts) >= 20  # real samples: 25 different layouts in 70
    unsorted = 0
    for captcha in captchas[:200]:
        lefts = [bounding_box(parse_path_data(d))[0] for _, d in GLYPH_PATH.findall(captcha.svg)]
        unsorted += lefts != sorted(lefts)
    assert unsorted >= 150


def test_glyphs_are_the_font_with_small_jitter(captchas: list[Captcha]) -> None:
    for captcha in captchas[:50]:
        for index, (char, glyph) in enumerate(
            zip(captcha.answer, read_drawing(captcha.svg).glyphs, strict=True)
        ):
            outline = parse_path_data(OUTLINES[char])
            for drawn, font in zip(glyph.commands, outline, strict=True):
                assert drawn.letter == font.letter
                offsets = [a - b for a, b in zip(drawn.coords, font.coords, strict=True)]
                offsets[0::2] = [dx - slot_centre(index) for dx in offsets[0::2]]
                assert all(abs(offset) <= 0.106 for offset in offsets)


def test_same_seed_same_captchas() -> None:
    first = [generate_captcha(random.Random(seed)) for seed in range(5)]
    again = [generate_captcha(random.Random(seed)) for seed in range(5)]
    assert first == again
    assert len({captcha.svg for captcha in first}) == 5


def test_given_answer() -> None:
    captcha = generate_captcha(random.Random(1), answer="ABC234")
    assert captcha.answer == "ABC234" == solve_captcha(captcha.svg)
    with pytest.raises(ValueError, match="6 characters"):
        generate_captcha(random.Random(1), answer="ABC10")


def test_glyphs_sit_where_the_portals_do() -> None:
    """Drawn with the answers of the real samples, every glyph's box is within 0.3 px of the
    real glyph's: same font, same slots, same baseline."""
    if not (SAMPLES / "labels.csv").is_file():
        pytest.skip(f"real captcha samples not found at {SAMPLES} (a clone without ../shared)")
    rng = random.Random(3)
    for answer, svg in load_samples(SAMPLES):
        generated = read_drawing(generate_captcha(rng, answer=answer).svg).glyphs
        for real, drawn in zip(read_drawing(svg).glyphs, generated, strict=True):
            real_box, drawn_box = bounding_box(real.commands), bounding_box(drawn.commands)
            assert all(abs(a - b) <= 0.3 for a, b in zip(real_box, drawn_box, strict=True))
