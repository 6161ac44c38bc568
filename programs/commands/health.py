"""Check a gdtmesh service's gRPC health (grpc.health.v1); exit 0 when it is SERVING.

Container healthchecks use it: `gdtmesh health 127.0.0.1:50051`.
"""

from __future__ import annotations

import argparse

HELP = "check a service's gRPC health (exit 0 when SERVING)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="host:port of the service")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait")


def run(args: argparse.Namespace) -> int:
    from programs.mesh.launcher import grpc_healthy

    healthy = grpc_healthy(args.address, args.timeout)
    print("SERVING" if healthy else "NOT SERVING")
    return 0 if healthy else 1
