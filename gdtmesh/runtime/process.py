"""The life of a gdtmesh process: logs, traces and the metrics endpoint first, then the
configuration, then the service's `serve(config)`; a bad configuration is one clear line on
stderr and exit code 2, never a traceback. Buffered spans are flushed however `serve` ends
(SIGTERM included: the services turn it into a graceful return).

Every process starts the same way, `python -m <package>`, whose `__main__` calls `run_process`
with the process's name, its config class and its `serve`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

from gdtmesh.runtime.config import ConfigError, load
from gdtmesh.runtime.logs import configure_logging
from gdtmesh.runtime.metrics import metrics_listen, start_metrics_server
from gdtmesh.runtime.telemetry import init_telemetry, shutdown_telemetry

C = TypeVar("C")


def run_process(
    name: str,
    config_class: type[C],
    serve: Callable[[C], Coroutine[Any, Any, None]],
    *,
    metrics_endpoint: bool = True,
    read_config: Callable[[], C] | None = None,
) -> NoReturn:
    """Run `serve(config)` as the process `name` and exit with its code: 0, 2 for a bad
    configuration, 1 when it cannot listen or reach what it needs (an OSError).

    The config is `config_class` loaded from the GDTMESH_* variables, or what `read_config`
    gives (the sandbox reads flags). `metrics_endpoint=False` leaves GDTMESH_METRICS_LISTEN to
    the process itself (the worker serves Temporal's metrics there)."""
    if read_config is None:
        read_config = functools.partial(load, config_class, "GDTMESH_")
    code = _run(name, read_config, serve, metrics_endpoint)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: the Temporal SDK can crash there


def _run(
    name: str,
    read_config: Callable[[], C],
    serve: Callable[[C], Coroutine[Any, Any, None]],
    metrics_endpoint: bool,
) -> int:
    configure_logging(name, os.environ.get("GDTMESH_LOG_LEVEL", "INFO"))
    init_telemetry(os.environ.get("OTEL_SERVICE_NAME", name))
    try:
        config = read_config()
        if metrics_endpoint:
            start_metrics_server(metrics_listen())
        asyncio.run(serve(config))
    except ConfigError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        shutdown_telemetry()
    return 0


def stop_signal() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets: what a `serve` without a gRPC server waits for."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
