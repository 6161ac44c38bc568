"""A secret scan after a full run of the mesh: imports that succeed, one refused for a wrong
password, one of a locked account, and tokens revoked mid-run (every process logging at DEBUG,
spans exported to an OTLP receiver). The portal passwords, any portal token (a JWT), the API
key and the mesh's keys appear nowhere in:

- Temporal histories (`temporal workflow show -o json`, with every base64 field decoded too),
- the logs of every mesh process (the sandbox's own log is left out: it is the portal, and
  prints its demo passwords by design),
- the exported spans (the raw OTLP export requests, attributes, events and statuses alike),
- the bucket (every object's bytes).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from programs.bench.runs import active_companies, import_all, post_json, running_mesh
from programs.bench.scenario import Budget, Scenario, Workload
from programs.mesh.launcher import Mesh
from programs.mesh.servers import temporal_binary
from programs.mesh.verify import bucket_client, get_json
from tests.observability.otlp_receiver import OtlpReceiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WRONG_PASSWORD = "Wrong-Pa55word-e3b0c442"
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
BASE64 = re.compile(r"^[A-Za-z0-9+/=_-]{16,}$")


class RawReceiver(OtlpReceiver):
    """Keeps every export request as sent, not only the flattened spans."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.raw.append(request.SerializeToString())
        return super().Export(request, context)


def test_no_secret_anywhere_after_a_full_run(tmp_path: Path) -> None:
    receiver = RawReceiver()
    receiver.start()
    scenario = Scenario(
        Workload(companies=6, invoices=30, months=1),
        Budget(account_rate=20, account_burst=20, global_rate=200, global_burst=100),
        latency_scale=0.2,
        env_extra={
            "GDTMESH_LOG_LEVEL": "DEBUG",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
    )
    try:
        with running_mesh(scenario, tmp_path) as mesh:
            secrets = _run_imports(mesh)
            artifacts = [*_histories(mesh), *_bucket(mesh)]
        # Stopped: every process has flushed its logs and spans.
        artifacts += _logs(tmp_path / "logs")
        artifacts += [(f"otlp export #{n}", raw) for n, raw in enumerate(receiver.raw)]
    finally:
        receiver.stop()

    assert any(name.startswith("history") for name, _ in artifacts)
    assert any(name.startswith("otlp") for name, _ in artifacts), "no span was exported"
    # The scan can see a password: the sandbox's banner prints them.
    banner = (tmp_path / "logs" / "sandbox.log").read_bytes()
    assert any(secret in banner for label, secret in secrets.items() if "password of" in label)
    leaks = [
        (name, label)
        for name, data in artifacts
        for label, secret in secrets.items()
        if secret in data
    ]
    leaks += [(name, "a JWT") for name, data in artifacts if JWT.search(data)]
    assert not leaks, leaks[:20]


def _run_imports(mesh: Mesh) -> dict[str, bytes]:
    """Run the imports; the secrets they involved, by label."""
    endpoints = mesh.endpoints()
    sandbox = endpoints["sandbox"]
    everyone = get_json(f"{sandbox}/_sandbox/companies")
    good = active_companies(sandbox)
    locked = [c for c in everyone if c["locked"]][:1]
    wrong = [{**good[0], "password": WRONG_PASSWORD}]
    # Revoke every token once the imports run: 401s, then logins again, at DEBUG.
    asyncio.run(_imports_with_revocation(mesh, [*good[1:], *locked], wrong, sandbox))
    secrets = {f"password of {c['mst']}": c["password"].encode() for c in everyone}
    secrets["the wrong password"] = WRONG_PASSWORD.encode()
    secrets["the API key"] = mesh.api_key.encode()
    secrets["the connector key"] = mesh.connector_key.encode()
    for spec in mesh.codec_keys.split(","):
        secrets[f"codec key {spec.split(':')[0]}"] = spec.split(":", 1)[1].encode()
    return secrets


async def _imports_with_revocation(
    mesh: Mesh, companies: list[dict[str, Any]], wrong: list[dict[str, Any]], sandbox: str
) -> None:
    imports = asyncio.create_task(import_all(mesh, companies, timeout_s=180))
    refused = asyncio.create_task(import_all(mesh, wrong, timeout_s=180))
    await asyncio.sleep(3)
    await asyncio.to_thread(post_json, f"{sandbox}/_sandbox/revoke", {})
    run, refused_run = await imports, await refused
    assert len(run.failed) <= 1, run.failed  # only the locked account
    assert refused_run.failed, "the wrong password was accepted"


def _histories(mesh: Mesh) -> Iterator[tuple[str, bytes]]:
    address = mesh.endpoints()["temporal"]
    listing = _temporal("workflow", "list", "--address", address, "-o", "json")
    for workflow in json.loads(listing or "[]"):
        workflow_id = workflow["execution"]["workflowId"]
        shown = _temporal("workflow", "show", "-w", workflow_id, "--address", address, "-o", "json")
        yield f"history {workflow_id}", shown.encode() + b"\n" + _decoded_fields(json.loads(shown))


def _temporal(*args: str) -> str:
    return subprocess.run(
        [temporal_binary(), *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout


def _decoded_fields(value: Any) -> bytes:
    """Every base64-looking string in a JSON document, decoded (payloads are base64 there)."""
    found: list[bytes] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, str) and BASE64.match(node):
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                with contextlib.suppress(binascii.Error, ValueError):
                    found.append(decode(node + "=" * (-len(node) % 4)))

    walk(value)
    return b"\n".join(found)


def _bucket(mesh: Mesh) -> Iterator[tuple[str, bytes]]:
    endpoints = mesh.endpoints()
    client = bucket_client(endpoints["gcs"])
    for blob in client.list_blobs(endpoints["bucket"]):
        yield f"object {blob.name}", blob.download_as_bytes()


def _logs(folder: Path) -> list[tuple[str, bytes]]:
    return [
        (f"log {path.name}", path.read_bytes())
        for path in sorted(folder.glob("*.log"))
        if path.name != "sandbox.log"
    ]
