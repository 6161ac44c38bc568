"""The `gdtmesh` command: one entry point, one subcommand module per job.

Each module in `programs.commands` exposes `HELP` (one line), `configure(parser)` and
`run(args) -> int`; heavy imports stay inside `run` so `gdtmesh --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand name -> module under programs.commands. Order is the order `--help` lists them.
COMMANDS = {
    "up": "up",
    "serve": "serve",
    "import": "import_",
    "watch": "watch",
    "manifest": "manifest",
    "sandbox": "sandbox",
    "captcha": "captcha",
    "health": "health",
    "bench": "bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdtmesh",
        description="Pull e-invoices of many companies from Vietnam's GDT portal into GCS.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        qualified = f"programs.commands.{module_name}"
        try:
            module = importlib.import_module(qualified)
        except ModuleNotFoundError as error:
            if error.name != qualified:
                raise
            continue  # a command not built yet
        command = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
