"""Read or draw GDT portal captchas (200x40 SVGs of 6 characters), without OCR.

  gdtmesh captcha solve FILE...        print FILE<TAB>ANSWER for each captcha
  gdtmesh captcha generate --count 5   write 5 sandbox captchas as <ANSWER>.svg

A FILE holds either the SVG itself or the portal's JSON answer ({"key": ..., "content": SVG}).
Unreadable files are reported on stderr and make the exit status 1; the others are still read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "read (solve) or draw (generate) portal captchas"

# Far above a real captcha (12-16 KB); the solver refuses anything larger anyway.
_MAX_FILE_BYTES = 1024 * 1024


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    solve = actions.add_parser(
        "solve",
        help="print FILE<TAB>ANSWER for each captcha file",
        description="Read captchas: print FILE<TAB>ANSWER per file; errors go to stderr.",
    )
    solve.add_argument("files", nargs="+", metavar="FILE", help="captcha SVG or portal JSON")
    solve.set_defaults(_action=_solve)

    generate = actions.add_parser(
        "generate",
        help="write sandbox captchas as <ANSWER>.svg",
        description="Draw captchas like the portal's and write each as DIR/<ANSWER>.svg.",
    )
    generate.add_argument("--seed", type=int, help="seed for reproducible captchas")
    generate.add_argument(
        "--count", type=_positive, default=1, help="how many captchas (default: 1)"
    )
    generate.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="folder (default: .)"
    )
    generate.set_defaults(_action=_generate)


def run(args: argparse.Namespace) -> int:
    return int(args._action(args))


def _solve(args: argparse.Namespace) -> int:
    from services.gdt_connector.captcha import CaptchaError, solve_captcha

    failures = 0
    for name in args.files:
        try:
            answer = solve_captcha(_read_captcha(Path(name)))
        except (CaptchaError, OSError) as error:
            failures += 1
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            print(f"gdtmesh captcha: {name}: {reason}", file=sys.stderr)
            continue
        print(f"{name}\t{answer}", flush=True)
    return 1 if failures else 0


def _generate(args: argparse.Namespace) -> int:
    import random

    from sandbox.captcha import generate_captcha

    rng = random.Random(args.seed)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for _ in range(args.count):
            captcha = generate_captcha(rng)
            path = args.out / f"{captcha.answer}.svg"
            path.write_text(captcha.svg, encoding="utf-8")
            print(path)
    except OSError as error:
        print(f"gdtmesh captcha: {error.filename or args.out}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


def _read_captcha(path: Path) -> str:
    """The SVG in a file holding the SVG or the portal's JSON answer."""
    from services.gdt_connector.captcha import CaptchaError

    with path.open("rb") as file:
        data = file.read(_MAX_FILE_BYTES + 1)
    if len(data) > _MAX_FILE_BYTES:
        raise CaptchaError(f"file is larger than {_MAX_FILE_BYTES} bytes: not a captcha")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CaptchaError("file is not UTF-8 text: not a captcha") from None
    if text.lstrip().startswith("{"):
        try:
            content = json.loads(text).get("content")
        except (ValueError, AttributeError, RecursionError):
            content = None
        if not isinstance(content, str):
            raise CaptchaError('JSON without a string "content" field: not a portal captcha')
        return content
    return text


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)
