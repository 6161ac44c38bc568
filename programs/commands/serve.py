"""Run one gdtmesh process in the foreground, configured by GDTMESH_* environment variables.

  gateway        the public TaskService API (GDTMESH_GATEWAY_LISTEN, GDTMESH_TEMPORAL_ADDRESS, ...)
  gdt_connector  the portal connector (GDTMESH_GDT_CONNECTOR_LISTEN, GDTMESH_PORTAL_BASE_URL, ...)
  storage        the bucket owner (GDTMESH_STORAGE_LISTEN, GDTMESH_STORAGE_BACKEND, ...)
  worker         the Temporal worker running the import workflows (GDTMESH_TEMPORAL_ADDRESS, ...)

The same as `python -m <package>` (services.gateway, services.gdt_connector, services.storage,
workers). This is what the containers of deploy/compose run; `gdtmesh up` starts all of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

HELP = "run one service (gateway, gdt_connector, storage, worker) from GDTMESH_* variables"


# Each process's entry point, imported only when it runs (`gdtmesh --help` stays fast).
def _gateway() -> NoReturn:
    from services.gateway.server import main

    main()


def _gdt_connector() -> NoReturn:
    from services.gdt_connector.server import main

    main()


def _storage() -> NoReturn:
    from services.storage.server import main

    main()


def _worker() -> NoReturn:
    from workers.main import main

    main()


PROCESSES: dict[str, Callable[[], NoReturn]] = {
    "gateway": _gateway,
    "gdt_connector": _gdt_connector,
    "storage": _storage,
    "worker": _worker,
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("process", choices=list(PROCESSES), help="which process to run")


def run(args: argparse.Namespace) -> NoReturn:
    PROCESSES[args.process]()
