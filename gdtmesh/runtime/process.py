"""The life of a gdtmesh process: logs and traces first, then the service's main coroutine;
a bad configuration is one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from gdtmesh.runtime.config import ConfigError
from gdtmesh.runtime.logs import configure_logging
from gdtmesh.runtime.telemetry import init_telemetry, shutdown_telemetry


def run_process(service_name: str, main: Callable[[], Awaitable[None]]) -> int:
    configure_logging(service_name, os.environ.get("GDTMESH_LOG_LEVEL", "INFO"))
    init_telemetry(os.environ.get("OTEL_SERVICE_NAME", service_name))
    try:
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
