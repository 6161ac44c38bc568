"""Worker modes (base and burst concurrency from configuration) and worker versioning: a worker
configured with a deployment name and build id joins that Temporal Worker Deployment, and once
the version is current, imports run on it."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import uuid

import pytest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum
from test_worker_config import REQUIRED

from gdtmesh.import_contract import ImportInput
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from gdtmesh.runtime.config import ConfigError, load
from programs.mesh.servers import ManagedProcess, temporal_binary
from tests.support.services import ConnectorStub, StorageStub, one_company
from workers.config import WorkerConfig
from workers.imports.activities import ImportActivities
from workers.imports.workflows import InvoiceImportWorkflow
from workers.main import build_worker
from workers.options import worker_options


def config(**settings: str) -> WorkerConfig:
    return load(WorkerConfig, environ={**REQUIRED, **settings})


def test_base_and_burst_modes_take_their_limits_from_configuration() -> None:
    base = worker_options(config(GDTMESH_WORKER_MAX_CONCURRENT_ACTIVITIES="60"))
    burst = worker_options(
        config(
            GDTMESH_WORKER_MODE="burst",
            GDTMESH_WORKER_BURST_MAX_CONCURRENT_ACTIVITIES="500",
            GDTMESH_WORKER_BURST_MAX_CONCURRENT_WORKFLOW_TASKS="150",
        )
    )
    assert (base["max_concurrent_activities"], base["max_concurrent_workflow_tasks"]) == (60, 50)
    assert isinstance(base["activity_task_poller_behavior"], PollerBehaviorSimpleMaximum)
    assert (burst["max_concurrent_activities"], burst["max_concurrent_workflow_tasks"]) == (
        500,
        150,
    )
    assert isinstance(burst["activity_task_poller_behavior"], PollerBehaviorAutoscaling)
    assert "deployment_config" not in base  # unversioned unless asked


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"GDTMESH_WORKER_MODE": "turbo"}, "GDTMESH_WORKER_MODE must be one of base, burst"),
        ({"GDTMESH_WORKER_DEPLOYMENT_NAME": "gdtmesh"}, "go together"),
        ({"GDTMESH_WORKER_BUILD_ID": "b1"}, "go together"),
        (
            {"GDTMESH_WORKER_DEPLOYMENT_NAME": "a.b", "GDTMESH_WORKER_BUILD_ID": "b1"},
            "must not contain '.'",
        ),
        ({"GDTMESH_WORKER_VERSIONING_BEHAVIOR": "sometimes"}, "auto_upgrade, pinned"),
        ({"GDTMESH_WORKER_BURST_MAX_CONCURRENT_ACTIVITIES": "0"}, "at least 1"),
        ({"GDTMESH_WORKER_HEARTBEAT_THROTTLE_SECONDS": "0"}, "must be positive"),
    ],
)
def test_bad_mode_or_versioning_settings_are_refused(settings: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        config(**settings)


def test_a_deployment_name_and_build_id_make_a_versioned_worker() -> None:
    options = worker_options(
        config(
            GDTMESH_WORKER_DEPLOYMENT_NAME="gdtmesh-worker",
            GDTMESH_WORKER_BUILD_ID="2026.11.25-abc123",
            GDTMESH_WORKER_VERSIONING_BEHAVIOR="pinned",
        )
    )
    deployment = options["deployment_config"]
    assert deployment.use_worker_versioning
    assert (deployment.version.deployment_name, deployment.version.build_id) == (
        "gdtmesh-worker",
        "2026.11.25-abc123",
    )
    assert deployment.default_versioning_behavior == VersioningBehavior.PINNED


def set_current_version(server: ManagedProcess, deployment: str, build_id: str) -> None:
    command = [temporal_binary(), "worker", "deployment", "set-current-version", "--yes"]
    command += ["--deployment-name", deployment, "--build-id", build_id]
    subprocess.run(
        [*command, "--address", server.address], capture_output=True, timeout=30, check=True
    )


async def test_a_versioned_worker_runs_imports_once_its_build_is_current(
    temporal_client: Client, temporal_server: ManagedProcess, task_queue: str
) -> None:
    deployment, build_id = f"gdtmesh-{uuid.uuid4().hex[:8]}", "build-1"
    settings = config(
        GDTMESH_TASK_QUEUE=task_queue,
        GDTMESH_WORKER_DEPLOYMENT_NAME=deployment,
        GDTMESH_WORKER_BUILD_ID=build_id,
    )
    data, company = one_company(40, 1, seed=2)
    activities = ImportActivities(
        ConnectorStub(data, company, dt.datetime.now(dt.UTC)),  # type: ignore[arg-type]
        StorageStub(),  # type: ignore[arg-type]
    )
    today = data.today
    params = ImportInput(
        import_id=f"test:invoice-import:{uuid.uuid4().hex[:8]}",
        company_tax_code=company,
        username="",
        password="pw",
        start_date=today.replace(day=1).isoformat(),
        end_date=today.isoformat(),
        flows=[int(Flow.FLOW_SOLD_ELECTRONIC)],
    )

    async with build_worker(temporal_client, settings, activities):
        for _ in range(100):  # the worker registers its version with its first polls
            try:
                set_current_version(temporal_server, deployment, build_id)
                break
            except subprocess.CalledProcessError:
                await asyncio.sleep(0.1)
        handle = await temporal_client.start_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )
        await handle.result()
        described = await handle.describe()

    versioning = described.raw_description.workflow_execution_info.versioning_info
    assert versioning.deployment_version.deployment_name == deployment
    assert versioning.deployment_version.build_id == build_id
    assert versioning.behavior == VersioningBehavior.AUTO_UPGRADE.value
