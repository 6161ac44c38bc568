"""Run one gdtmesh process in the foreground, configured by GDTMESH_* environment variables.

  gateway    the public TaskService API (GDTMESH_GATEWAY_LISTEN, GDTMESH_TEMPORAL_ADDRESS, ...)
  connector  the GDT portal connector (GDTMESH_GDT_CONNECTOR_LISTEN, GDTMESH_PORTAL_BASE_URL, ...)
  storage    the bucket owner (GDTMESH_STORAGE_LISTEN, GDTMESH_STORAGE_BACKEND, ...)
  worker     the Temporal worker running the import workflows (GDTMESH_TEMPORAL_ADDRESS, ...)

This is what the containers of deploy/compose run; `gdtmesh up` starts all of them for you.
"""

from __future__ import annotations

import argparse
import importlib

HELP = "run one service (gateway, connector, storage, worker) from GDTMESH_* variables"

# Process name -> module with a `main() -> int`.
PROCESSES = {
    "gateway": "services.gateway.server",
    "gdt_connector": "services.gdt_connector.server",
    "storage": "services.storage.server",
    "worker": "workers.main",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("process", choices=sorted(PROCESSES), help="which process to run")


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(PROCESSES[args.process])
    return int(module.main())
