"""SVG path data as absolute commands, and the layout of the portal's captcha.

The portal draws its captcha with svg-captcha: character `i` of the answer is centred on the slot
`(WIDTH - 2) / (LENGTH + 1) * (i + 1)`, drawn with a fixed font and size, so a glyph's outline is
the font's outline shifted to its slot (plus +-0.1 px of random jitter per command).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
WIDTH = 200
HEIGHT = 40
LENGTH = 6

# Numbers of coordinates each absolute command takes once H and V are turned into L.
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "Q": 4, "C": 6, "Z": 0}
_TOKEN = re.compile(
    r"(?P<letter>[A-Za-z])|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<separator>[\s,]+)|(?P<other>.)",
    re.DOTALL,
)


class PathDataError(ValueError):
    """Path data this module cannot read."""


def slot_centre(index: int, length: int = LENGTH, width: int = WIDTH) -> float:
    """The x at which svg-captcha centres character `index` of a `length`-character answer."""
    return (width - 2) / (length + 1) * (index + 1)


@dataclass(frozen=True)
class Command:
    """One absolute path command: `letter` is one of M L Q C Z; `coords` are x, y pairs."""

    letter: str
    coords: tuple[float, ...]

    def points(self) -> Iterator[tuple[float, float]]:
        for i in range(0, len(self.coords), 2):
            yield self.coords[i], self.coords[i + 1]

    def shifted(self, dx: float, dy: float) -> Command:
        moved = (value + (dx if i % 2 == 0 else dy) for i, value in enumerate(self.coords))
        return Command(self.letter, tuple(moved))


def signature(commands: Iterable[Command]) -> str:
    """The command letters of an outline, e.g. "MLLQLLQ...Z": characteristic of its character."""
    return "".join(command.letter for command in commands)


def bounding_box(commands: Sequence[Command]) -> tuple[float, float, float, float]:
    """(min x, min y, max x, max y) over every point, control points included."""
    points = [point for command in commands for point in command.points()]
    if not points:
        raise PathDataError("path has no points")
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return min(xs), min(ys), max(xs), max(ys)


def parse_path_data(data: str) -> list[Command]:
    """Parse SVG path data (M L H V Q C Z, absolute or relative) into absolute M/L/Q/C/Z."""
    tokens = _tokenize(data)
    commands: list[Command] = []
    current = start = (0.0, 0.0)
    letter = ""
    while tokens:
        if isinstance(tokens[0], str):
            letter = str(tokens.popleft())
        elif not letter or letter in "Zz":
            raise PathDataError("path data has a number where a command letter belongs")
        command = _read_command(letter, tokens, current)
        commands.append(command)
        if command.letter == "Z":
            current = start
            continue
        current = command.coords[-2], command.coords[-1]
        if command.letter == "M":
            start = current
            letter = "l" if letter == "m" else "L"  # further pairs after a move-to are line-tos
    if not commands or commands[0].letter != "M":
        raise PathDataError("path data must start with a move-to")
    return commands


def format_path_data(commands: Iterable[Command]) -> str:
    """Path data the way svg-captcha writes it: `M1.00 2.00L3.00 4.00Q5.00 6.00 7.00 8.00Z`."""
    return "".join(
        command.letter + " ".join(f"{value:.2f}" for value in command.coords)
        for command in commands
    )


def _tokenize(data: str) -> deque[str | float]:
    tokens: deque[str | float] = deque()
    for match in _TOKEN.finditer(data):
        kind, text = match.lastgroup, match.group()
        if kind == "letter":
            if text.upper() not in _ARITY:
                raise PathDataError(f"unsupported path command {text!r}")
            tokens.append(text)
        elif kind == "number":
            tokens.append(float(text))
        elif kind == "other":
            raise PathDataError(f"unexpected character {text!r} in path data")
    return tokens


def _read_command(letter: str, tokens: deque[str | float], current: tuple[float, float]) -> Command:
    absolute = letter.upper()
    values: list[float] = []
    for _ in range(_ARITY[absolute]):
        value = tokens.popleft() if tokens else None
        if not isinstance(value, float):
            raise PathDataError(f"command {letter!r} is missing coordinates")
        values.append(value)
    x, y = current
    relative = letter.islower()
    if absolute == "H":
        return Command("L", (values[0] + (x if relative else 0.0), y))
    if absolute == "V":
        return Command("L", (x, values[0] + (y if relative else 0.0)))
    if relative:
        values = [value + (x if i % 2 == 0 else y) for i, value in enumerate(values)]
    return Command(absolute, tuple(values))
