"""The gateway's settings, from GDTMESH_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass

from gdtmesh.import_contract import TASK_QUEUE
from gdtmesh.rules import bucket_problem
from gdtmesh.runtime.codec import parse_keys
from gdtmesh.runtime.config import Secret, check_listen_address, check_target
from services.gateway.auth import parse_api_keys
from services.gateway.codec_server import parse_tokens


@dataclass(frozen=True)
class GatewayConfig:
    codec_keys: Secret  # GDTMESH_CODEC_KEYS: `id:base64key,...`, the worker's keys
    api_keys: Secret  # GDTMESH_API_KEYS: `tenant:key,tenant2:key2` (a tenant may have several)
    gateway_listen: str = "127.0.0.1:50051"
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    default_bucket: str = ""  # empty: the storage service's own default bucket
    storage_address: str = "127.0.0.1:50062"  # the storage service GetManifest reads through
    # The connector's per-batch download overlap (the same variable the connector reads): imports
    # plan their batches with it to keep `max_concurrent_invoices` a true bound.
    gdt_connector_fetch_concurrency: int = 4
    # Load shedding: RPCs in progress past these get RESOURCE_EXHAUSTED at once.
    gateway_max_concurrent_rpcs: int = 200
    gateway_max_streams: int = 1000  # WatchTask streams in progress
    gateway_watch_interval_seconds: float = 1.0  # how often a watched task is looked at
    gateway_shutdown_grace_seconds: float = 5.0
    # The remote codec endpoint for the Temporal UI and CLI (codec_server.py); empty: none.
    codec_listen: str = ""
    codec_tokens: Secret = Secret("")  # operators' tokens, comma-separated, 16+ characters
    codec_cors_origins: tuple[str, ...] = ("http://127.0.0.1:8233", "http://localhost:8233")

    def __post_init__(self) -> None:
        parse_keys(self.codec_keys.reveal())
        parse_api_keys(self.api_keys.reveal())
        check_listen_address("GDTMESH_GATEWAY_LISTEN", self.gateway_listen)
        check_target("GDTMESH_TEMPORAL_ADDRESS", self.temporal_address)
        check_target("GDTMESH_STORAGE_ADDRESS", self.storage_address)
        if not self.task_queue:
            raise ValueError("GDTMESH_TASK_QUEUE must not be empty")
        if self.default_bucket and (problem := bucket_problem(self.default_bucket)):
            raise ValueError(f"GDTMESH_DEFAULT_BUCKET: {problem}")
        for name in (
            "gdt_connector_fetch_concurrency",
            "gateway_max_concurrent_rpcs",
            "gateway_max_streams",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"GDTMESH_{name.upper()} must be at least 1")
        if not 0.05 <= self.gateway_watch_interval_seconds <= 60:
            raise ValueError("GDTMESH_GATEWAY_WATCH_INTERVAL_SECONDS must be 0.05-60")
        if self.codec_listen:
            check_listen_address("GDTMESH_CODEC_LISTEN", self.codec_listen)
            if not parse_tokens(self.codec_tokens.reveal()):
                raise ValueError("GDTMESH_CODEC_TOKENS is required with GDTMESH_CODEC_LISTEN")
