"""SVG path data as absolute commands, and the layout of the portal's captcha.

The portal draws its captcha with svg-captcha: character `i` of the answer is centred on the slot
`(WIDTH - 2) / (LENGTH + 1) * (i + 1)`, drawn with a fixed font and size, so a glyph's outline is
the font's outline shifted to its slot (plus +-0.1 px of random jitter per command).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
WIDTH = 200
HEIGHT = 40
LENGTH = 6

# Numbers of coordinates each absolute command takes once H and V are turned into L.
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "Q": 4, "C": 6, "Z": 0}
# A command letter and its arguments ("e" is no command: it belongs to exponents like 1e-3).
_COMMAND = re.compile(r"([A-DF-Za-df-z])([^A-DF-Za-df-z]*)")
# An SVG number; atomic, so that a failing match never retries splits of a run of digits.
NUMBER = r"(?>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_NUMBER = re.compile(NUMBER)
_SEPARATORS = re.compile(r"[\s,]*")


class PathDataError(ValueError):
    """Path data this module cannot read."""


def slot_centre(index: int, length: int = LENGTH, width: int = WIDTH) -> float:
    """The x at which svg-captcha centres character `index` of a `length`-character answer."""
    return (width - 2) / (length + 1) * (index + 1)


class Command(NamedTuple):
    """One absolute path command: `letter` is one of M L Q C Z; `coords` are x, y pairs.
    (A named tuple: outlines have hundreds of commands and these build fastest.)"""

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
    if _COMMAND.split(data, maxsplit=1)[0].strip():
        raise PathDataError("path data must start with a command letter")
    commands: list[Command] = []
    x = y = start_x = start_y = 0.0
    for letter, arguments in _COMMAND.findall(data):
        absolute = letter.upper()
        numbers = _numbers(letter, absolute, arguments)
        if absolute == "Z":
            commands.append(Command("Z", ()))
            x, y = start_x, start_y
            continue
        arity = _ARITY[absolute]
        for index in range(0, len(numbers), arity):
            step = letter if index == 0 or absolute != "M" else ("l" if letter == "m" else "L")
            command = _absolute(step, numbers[index : index + arity], x, y)
            commands.append(command)
            x, y = command.coords[-2], command.coords[-1]
            if step in "Mm":
                start_x, start_y = x, y
    if not commands or commands[0].letter != "M":
        raise PathDataError("path data must start with a move-to")
    return commands


def format_path_data(commands: Iterable[Command]) -> str:
    """Path data the way svg-captcha writes it: `M1.00 2.00L3.00 4.00Q5.00 6.00 7.00 8.00Z`."""
    return "".join(
        command.letter + " ".join(f"{value:.2f}" for value in command.coords)
        for command in commands
    )


def _numbers(letter: str, absolute: str, arguments: str) -> list[float]:
    """The arguments of one command letter; several commands' worth repeat it ("L1 2 3 4")."""
    arity = _ARITY.get(absolute)
    if arity is None:
        raise PathDataError(f"unsupported path command {letter!r}")
    # Numbers out, only separators may remain (one regex over both would backtrack
    # exponentially on a long run of digits followed by junk).
    if not _SEPARATORS.fullmatch(_NUMBER.sub(" ", arguments)):
        raise PathDataError(f"unexpected characters after {letter!r} in path data")
    numbers = [float(number) for number in _NUMBER.findall(arguments)]
    if (arity == 0 and numbers) or (arity > 0 and (not numbers or len(numbers) % arity)):
        raise PathDataError(f"command {letter!r} has a wrong number of coordinates")
    return numbers


def _absolute(letter: str, values: list[float], x: float, y: float) -> Command:
    if letter == "H":
        return Command("L", (values[0], y))
    if letter == "h":
        return Command("L", (values[0] + x, y))
    if letter == "V":
        return Command("L", (x, values[0]))
    if letter == "v":
        return Command("L", (x, values[0] + y))
    if letter.islower():
        values = [value + (x if i % 2 == 0 else y) for i, value in enumerate(values)]
    return Command(letter.upper(), tuple(values))
