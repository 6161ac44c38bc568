"""The Temporal worker options a `WorkerConfig` asks for: its mode's limits and pollers, and
worker versioning (a Worker Deployment version) when a deployment name is configured.

Rolling out a build with versioning on: start workers of the new build id next to the old
ones, then make it current (`temporal worker deployment set-current-version --deployment-name
NAME --build-id ID`). With `auto_upgrade` (the default) running imports move to the new build
at their next workflow task, which the replay tests keep safe; with `pinned` they finish on the
build that started them, so old workers stay until those drain.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import (
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    WorkerDeploymentConfig,
)

from workers.config import WorkerConfig

_BEHAVIORS = {
    "auto_upgrade": VersioningBehavior.AUTO_UPGRADE,
    "pinned": VersioningBehavior.PINNED,
}


def worker_options(config: WorkerConfig) -> dict[str, Any]:
    """Keyword arguments for `temporalio.worker.Worker` (besides client, queue and code)."""
    limits = config.limits
    pollers = PollerBehaviorAutoscaling() if limits.autoscale_pollers else None
    options: dict[str, Any] = {
        "max_concurrent_activities": limits.max_concurrent_activities,
        "max_concurrent_workflow_tasks": limits.max_concurrent_workflow_tasks,
        "workflow_task_poller_behavior": pollers or PollerBehaviorSimpleMaximum(5),
        "activity_task_poller_behavior": pollers or PollerBehaviorSimpleMaximum(5),
        "max_heartbeat_throttle_interval": timedelta(
            seconds=config.worker_heartbeat_throttle_seconds
        ),
        "graceful_shutdown_timeout": timedelta(seconds=config.worker_shutdown_grace_seconds),
    }
    if config.worker_deployment_name:
        options["deployment_config"] = WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(config.worker_deployment_name, config.worker_build_id),
            use_worker_versioning=True,
            default_versioning_behavior=_BEHAVIORS[config.worker_versioning_behavior],
        )
    return options
