"""Payload codec secrets: key rotation (a task sealed with the old key is run and read by a
worker and gateway holding the new key first and the old one after) and the remote codec
endpoint the Temporal UI and CLI use to show payloads in clear to operators with a token."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from gateway_support import (
    CODEC_KEYS,
    KEY_A,
    PASSWORD,
    auth,
    fresh_company,
    gateway_config,
    import_request,
)
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from gdtmesh.gateway.v1 import gateway_pb2 as pb
from gdtmesh.gateway.v1 import gateway_pb2_grpc
from gdtmesh.runtime.codec import new_key_spec, parse_keys
from gdtmesh.runtime.config import Secret
from gdtmesh.runtime.temporal import connect_temporal
from programs.mesh.servers import ManagedProcess, temporal_binary
from services.gateway.codec_server import CodecServer, parse_tokens, start_codec_server
from services.gateway.server import start
from tests.support.imports import ImportDoubles, import_worker

OLD_KEY = CODEC_KEYS  # id "gw"
NEW_KEY = new_key_spec("gw2")
ROTATED = f"{NEW_KEY},{OLD_KEY}"
TOKEN = "operator-token-0123456789"
UI = "http://127.0.0.1:8233"


@pytest.fixture
async def codec() -> AsyncIterator[CodecServer]:
    server = await start_codec_server(
        "127.0.0.1:0", parse_keys(ROTATED), parse_tokens(TOKEN), [UI], "default"
    )
    yield server
    await server.stop()


async def raw_history(client: Client, workflow_id: str) -> list[dict[str, Any]]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [json_format.MessageToDict(event) for event in history.events]


def payloads_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The payloads of a started or completed event, as the JSON wire format has them."""
    for attributes in (
        "workflowExecutionStartedEventAttributes",
        "workflowExecutionCompletedEventAttributes",
    ):
        if attributes in event:
            holder = event[attributes].get("input") or event[attributes].get("result")
            return list(holder["payloads"])
    raise AssertionError(f"no payloads in {sorted(event)}")


def key_id(payload: dict[str, Any]) -> str:
    return base64.b64decode(payload["metadata"]["encryption-key-id"]).decode()


async def test_a_rotated_key_still_reads_what_the_old_key_sealed(
    temporal_server: ManagedProcess, task_queue: str, codec: CodecServer
) -> None:
    old = await connect_temporal(temporal_server.address, "default", parse_keys(OLD_KEY))
    rotated = await connect_temporal(temporal_server.address, "default", parse_keys(ROTATED))
    plain = await Client.connect(temporal_server.address)
    company = fresh_company()
    gate = asyncio.Event()
    imports = ImportDoubles(per_month=3, gate=gate)

    # An old gateway (old key only) starts the task; no worker runs yet.
    old_gateway = await start(gateway_config(temporal_server.address, task_queue), old)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{old_gateway.port}") as channel:
        started = await gateway_pb2_grpc.TaskServiceStub(channel).StartTask(
            import_request(company), metadata=auth()
        )
    await old_gateway.stop(0)
    task_id = started.task.task_id

    # The rotation: worker and gateway now hold the new key first, the old one after.
    config = gateway_config(temporal_server.address, task_queue, codec_keys=Secret(ROTATED))
    new_gateway = await start(config, rotated)
    try:
        async with (
            import_worker(rotated, task_queue, imports.activities()),
            grpc.aio.insecure_channel(f"127.0.0.1:{new_gateway.port}") as channel,
        ):
            stub = gateway_pb2_grpc.TaskServiceStub(channel)
            gate.set()
            task = await _finished(stub, task_id)
    finally:
        await new_gateway.stop(0)

    assert task.status == pb.TASK_STATUS_SUCCEEDED
    assert task.invoice_import.company_tax_code == company
    assert imports.passwords == [PASSWORD]  # the worker opened the old seal
    events = await raw_history(plain, task_id)
    [sealed_input] = payloads_of(events[0])
    [sealed_result] = payloads_of(events[-1])
    assert (key_id(sealed_input), key_id(sealed_result)) == ("gw", "gw2")
    assert company.encode() not in base64.b64decode(sealed_result["data"])

    # The codec endpoint opens both seals for an operator with a token.
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{codec.port}/decode"
        body = json.dumps({"payloads": [sealed_input, sealed_result]})
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200
            decoded = (await response.json())["payloads"]
    clear = [base64.b64decode(p["data"]).decode() for p in decoded]
    assert company in clear[0] and PASSWORD in clear[0]  # the input, for operators
    assert '"phase": "finished"' in clear[1] or '"phase":"finished"' in clear[1]


async def test_the_codec_endpoint_needs_a_token_and_answers_the_ui_origin_only(
    codec: CodecServer,
) -> None:
    sealed = Payloads(payloads=await _encode(codec, b'"hello"'))
    body = json_format.MessageToJson(sealed)
    base = f"http://127.0.0.1:{codec.port}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/decode", data=body) as response:
            assert response.status == 401
        async with http.post(
            f"{base}/decode", data=body, headers={"Authorization": "Bearer wrong-token-0123456789"}
        ) as response:
            assert response.status == 401
        # A UI without a login gets the token in the endpoint it is given.
        async with http.post(
            f"{base}/t/{TOKEN}/decode", data=body, headers={"Origin": UI}
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == UI
            [clear] = (await response.json())["payloads"]
            assert base64.b64decode(clear["data"]) == b'"hello"'
        async with http.options(
            f"{base}/decode",
            headers={"Origin": UI, "Access-Control-Request-Method": "POST"},
        ) as preflight:
            assert preflight.status == 204
            assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
        async with http.options(
            f"{base}/decode", headers={"Origin": "http://evil.example"}
        ) as preflight:
            assert "Access-Control-Allow-Origin" not in preflight.headers
        headers = {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "someone-else"}
        async with http.post(f"{base}/decode", data=body, headers=headers) as response:
            assert response.status == 403
        async with http.post(
            f"{base}/decode", data="{not json", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            assert response.status == 400
            assert "not a JSON" in (await response.json())["message"]
        unknown = Payloads(payloads=await _encode(codec, b"1"))
        unknown.payloads[0].metadata["encryption-key-id"] = b"k-retired"
        async with http.post(
            f"{base}/decode",
            data=json_format.MessageToJson(unknown),
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response:
            assert response.status == 400
            assert "unknown key id 'k-retired'" in (await response.json())["message"]


async def test_the_temporal_cli_shows_a_history_in_clear_through_the_endpoint(
    gateway: Any, temporal_server: ManagedProcess, codec: CodecServer
) -> None:
    company = fresh_company()
    started = await gateway.stub.StartTask(import_request(company), metadata=auth(KEY_A))
    task_id = started.task.task_id
    command = [temporal_binary(), "workflow", "show", "-w", task_id, "-o", "json"]
    command += ["--address", temporal_server.address]

    sealed = await _run(command)
    clear = await _run(
        [
            *command,
            "--codec-endpoint",
            f"http://127.0.0.1:{codec.port}",
            "--codec-auth",
            f"Bearer {TOKEN}",
        ]
    )

    # The input, with the portal password, is what an authorised operator gets to see.
    assert not readable(sealed, PASSWORD)
    assert readable(clear, PASSWORD)


def readable(shown: str, secret: str) -> bool:
    """Whether `temporal workflow show -o json` output shows `secret` (payload data is base64)."""
    blobs = [shown.encode()]
    for text in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', shown):
        blobs.append(base64.b64decode(text))
    return any(secret.encode() in blob for blob in blobs)


async def _encode(codec: CodecServer, data: bytes) -> list[Any]:
    body = json.dumps(
        {
            "payloads": [
                {
                    "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                    "data": base64.b64encode(data).decode(),
                }
            ]
        }
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{codec.port}/encode",
            data=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response,
    ):
        assert response.status == 200
        encoded = json_format.Parse(await response.text(), Payloads())
    assert encoded.payloads[0].metadata["encryption-key-id"] == b"gw2"  # the newest key seals
    return list(encoded.payloads)


async def _run(command: list[str]) -> str:
    """Run the CLI without blocking the loop that serves the codec endpoint."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _finished(stub: gateway_pb2_grpc.TaskServiceStub, task_id: str) -> pb.Task:
    for _ in range(200):
        reply = await stub.GetTask(pb.GetTaskRequest(task_id=task_id), metadata=auth())
        if reply.task.status != pb.TASK_STATUS_RUNNING:
            return reply.task
        await asyncio.sleep(0.05)
    raise AssertionError("the task never finished")


@pytest.fixture
def task_queue() -> str:
    return f"codec-test-{uuid.uuid4().hex[:12]}"
