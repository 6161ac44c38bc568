"""Run the sandbox GDT portal: `python -m sandbox` under the gdtmesh command (the flags, the help
and the process are the sandbox's own)."""

from __future__ import annotations

import argparse
from typing import NoReturn

HELP = "run the sandbox GDT portal (demo companies, invoices, captchas, limits, faults)"


def configure(parser: argparse.ArgumentParser) -> None:
    from sandbox.settings import DESCRIPTION, add_flags

    parser.description = DESCRIPTION
    add_flags(parser)


def run(args: argparse.Namespace) -> NoReturn:
    from sandbox.app import run

    run(args)
