"""The import on the real Temporal dev server: a rate-limited batch resumes from its heartbeat
(real activities over fake stubs), and the portal password never reaches history in clear."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import subprocess
import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import DataConverter

from gdtmesh.gdt_connector.v1 import gdt_connector_pb2
from gdtmesh.import_contract import ImportInput
from gdtmesh.invoice.v1.invoice_pb2 import Flow
from programs.mesh.servers import ManagedProcess, temporal_binary
from tests.support.imports import WRONG_PASSWORD, ImportDoubles, import_worker, month_of_refs
from tests.support.services import ConnectorStub, StorageStub, downloaded, rate_limited
from workers.imports.activities import ImportActivities
from workers.imports.refs import unpack
from workers.imports.workflows import InvoiceImportWorkflow

SOLD = int(Flow.FLOW_SOLD_ELECTRONIC)
PASSWORD = "Pa55-word-9f3kq"


def import_input(*, password: str = PASSWORD, max_concurrent: int = 10) -> ImportInput:
    return ImportInput(
        import_id=f"test:invoice-import:{uuid.uuid4().hex[:8]}",
        company_tax_code="0101234560",
        username="",
        password=password,
        start_date="2025-03-01",
        end_date="2025-03-31",
        flows=[SOLD],
        bucket="bucket-a",
        max_concurrent_invoices=max_concurrent,
    )


async def test_a_rate_limited_batch_resumes_where_it_stopped(
    temporal_client: Client, task_queue: str
) -> None:
    invoices = month_of_refs(2025, 3, 4)
    connector = ConnectorStub(
        pages=[
            gdt_connector_pb2.ListInvoicesResponse(
                invoices=[unpack(r) for r in invoices], portal_total=4
            )
        ],
        fetches=[
            [downloaded(invoices[0]), downloaded(invoices[1]), rate_limited(0.2)],
            [downloaded(invoices[2]), downloaded(invoices[3])],
        ],
    )
    storage = StorageStub()
    activities = ImportActivities(connector, storage)  # type: ignore[arg-type]
    params = import_input(max_concurrent=4)  # one lane: one batch of four

    async with import_worker(temporal_client, task_queue, activities.all()):
        result = await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run, params, id=params.import_id, task_queue=task_queue
        )

    assert [w.invoice.key.number for w in storage.writes] == [1, 2, 3, 4]  # none twice
    fetches = [
        r for r in connector.requests if isinstance(r, gdt_connector_pb2.FetchInvoicesRequest)
    ]
    assert [len(r.invoices) for r in fetches] == [4, 2]
    assert (result.periods[0].stored, result.periods[0].failed) == (4, 0)
    assert len(storage.manifests) == 1


def history_json(server: ManagedProcess, workflow_id: str) -> str:
    command = [temporal_binary(), "workflow", "show", "-o", "json", "-w", workflow_id]
    shown = subprocess.run(
        [*command, "--address", server.address],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return shown.stdout


def shows(history: str, secret: str) -> bool:
    """Whether `secret` is readable in the history: in the text itself or in any base64
    payload (`temporal workflow show` prints payload data as base64)."""
    if secret in history:
        return True
    return any(secret.encode() in blob for blob in _decoded_strings(json.loads(history)))


def _decoded_strings(node: Any) -> list[bytes]:
    if isinstance(node, dict):
        return [blob for value in node.values() for blob in _decoded_strings(value)]
    if isinstance(node, list):
        return [blob for value in node for blob in _decoded_strings(value)]
    if isinstance(node, str):
        try:
            return [base64.b64decode(node, validate=True)]
        except (binascii.Error, ValueError):
            return []
    return []


async def test_the_password_never_appears_in_history(
    temporal_client: Client, temporal_server: ManagedProcess, task_queue: str
) -> None:
    portal = ImportDoubles(invoices={(SOLD, 2025, 3): month_of_refs(2025, 3, 3)})
    encrypted, refused = import_input(), import_input(password=WRONG_PASSWORD)
    plain_client = Client(
        temporal_client.service_client,
        namespace="default",
        data_converter=DataConverter.default,
    )
    control = import_input()

    async with import_worker(temporal_client, task_queue, portal.activities()):
        result = await temporal_client.execute_workflow(
            InvoiceImportWorkflow.run, encrypted, id=encrypted.import_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await temporal_client.execute_workflow(
                InvoiceImportWorkflow.run, refused, id=refused.import_id, task_queue=task_queue
            )
        # Control: the same import started without the codec is readable, so the check can fail.
        await plain_client.start_workflow(
            "InvoiceImport",
            dataclasses.asdict(control),
            id=control.import_id,
            task_queue=task_queue,
        )
        await temporal_client.get_workflow_handle(control.import_id).result()  # sealed result

    assert result.periods[0].stored == 3  # the encrypted import still completed
    assert portal.passwords == [PASSWORD, WRONG_PASSWORD, PASSWORD]  # decrypted for use
    assert shows(history_json(temporal_server, control.import_id), PASSWORD)
    secret_history = history_json(temporal_server, encrypted.import_id)
    assert not shows(secret_history, PASSWORD)
    assert not shows(secret_history, "0101234560")  # inputs and results are all sealed
    failed_history = history_json(temporal_server, refused.import_id)
    assert not shows(failed_history, WRONG_PASSWORD)
    assert "UNAUTHENTICATED" in failed_history  # the error type is public, its message is not:
    assert not shows(failed_history, "wrong username or password")
