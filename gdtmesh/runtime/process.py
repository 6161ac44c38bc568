"""The life of a gdtmesh process: logs, traces and the metrics endpoint first, then the
service's main coroutine; a bad configuration is one clear line on stderr and exit code 2, never
a traceback. Buffered spans are flushed however the main coroutine ends (SIGTERM included: the
services turn it into a graceful return)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from gdtmesh.runtime.config import ConfigError
from gdtmesh.runtime.logs import configure_logging
from gdtmesh.runtime.metrics import metrics_listen, start_metrics_server
from gdtmesh.runtime.telemetry import init_telemetry, shutdown_telemetry


def run_process(
    service_name: str, main: Callable[[], Awaitable[None]], *, metrics_endpoint: bool = True
) -> int:
    """Run `main` as the process `service_name`. `metrics_endpoint=False` leaves
    GDTMESH_METRICS_LISTEN to the process itself (the worker serves Temporal's metrics there)."""
    configure_logging(service_name, os.environ.get("GDTMESH_LOG_LEVEL", "INFO"))
    init_telemetry(os.environ.get("OTEL_SERVICE_NAME", service_name))
    try:
        if metrics_endpoint:
            start_metrics_server(metrics_listen())
        asyncio.run(main())  # type: ignore[arg-type]
    except ConfigError as error:
        print(f"{service_name}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{service_name}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        shutdown_telemetry()
    return 0
