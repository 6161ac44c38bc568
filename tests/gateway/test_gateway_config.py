"""Gateway configuration and the pieces it is built from: API keys, task ids, task kinds."""

from __future__ import annotations

import pytest
from gateway_support import CODEC_KEYS, KEY_A

from gdtmesh.gateway.v1 import gateway_pb2
from gdtmesh.runtime.config import ConfigError, load
from services.gateway.auth import ApiKeys, parse_api_keys
from services.gateway.config import GatewayConfig
from services.gateway.server import task_kinds
from services.gateway.task_ids import TaskId


def test_defaults_need_only_the_keys() -> None:
    config = load(
        GatewayConfig, environ={"GDTMESH_CODEC_KEYS": CODEC_KEYS, "GDTMESH_API_KEYS": f"a:{KEY_A}"}
    )
    assert (config.gateway_listen, config.temporal_address) == ("127.0.0.1:50051", "127.0.0.1:7233")
    assert (config.temporal_namespace, config.task_queue) == ("default", "gdtmesh-imports")
    assert config.default_bucket == "" and config.gdt_connector_fetch_concurrency == 4
    assert (config.gateway_max_concurrent_rpcs, config.gateway_max_streams) == (200, 1000)
    assert KEY_A not in repr(config)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("GDTMESH_API_KEYS", "", "at least one tenant key"),
        ("GDTMESH_API_KEYS", "no-colon-here-0123456789", "tenant:key"),
        ("GDTMESH_API_KEYS", "bad tenant:0123456789abcdefgh", "tenant:key"),
        ("GDTMESH_API_KEYS", f"a:{KEY_A},b:{KEY_A}", "used twice"),
        ("GDTMESH_GATEWAY_LISTEN", "50051", "host:port"),
        ("GDTMESH_TEMPORAL_ADDRESS", "temporal", "host:port"),
        ("GDTMESH_STORAGE_ADDRESS", "storage", "host:port"),
        ("GDTMESH_DEFAULT_BUCKET", "No Such Bucket", "must be a bucket name"),
        ("GDTMESH_GDT_CONNECTOR_FETCH_CONCURRENCY", "0", "at least 1"),
        ("GDTMESH_GATEWAY_MAX_CONCURRENT_RPCS", "0", "at least 1"),
        ("GDTMESH_GATEWAY_MAX_STREAMS", "-1", "at least 1"),
        ("GDTMESH_GATEWAY_WATCH_INTERVAL_SECONDS", "0", "0.05-60"),
        ("GDTMESH_CODEC_LISTEN", "127.0.0.1:8089", "GDTMESH_CODEC_TOKENS is required"),
        ("GDTMESH_CODEC_LISTEN", "8089", "host:port"),
    ],
)
def test_bad_settings_are_refused_without_showing_keys(
    variable: str, value: str, says: str
) -> None:
    environ = {"GDTMESH_CODEC_KEYS": CODEC_KEYS, "GDTMESH_API_KEYS": f"a:{KEY_A}", variable: value}
    with pytest.raises(ConfigError, match=says) as raised:
        load(GatewayConfig, environ=environ)
    assert KEY_A not in str(raised.value)


def test_keys_map_to_tenants_by_bearer_or_x_api_key() -> None:
    keys = ApiKeys(parse_api_keys(f"acme:{KEY_A}, beta:{KEY_A[::-1]}, acme:{KEY_A}-rotated"))
    assert keys.tenant_for([("authorization", f"Bearer {KEY_A}")]) == "acme"
    assert keys.tenant_for([("authorization", f"bearer   {KEY_A}-rotated ")]) == "acme"
    assert keys.tenant_for([("x-api-key", KEY_A[::-1])]) == "beta"
    assert keys.tenant_for([("authorization", KEY_A)]) is None  # no scheme
    assert keys.tenant_for([("authorization-bin", KEY_A.encode())]) is None
    assert keys.tenant_for([]) is None


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (
            "acme:invoice-import:0101234560:20250101-20250131:all",
            TaskId("acme", "invoice-import", "0101234560:20250101-20250131:all"),
        ),
        ("acme:invoice-import", None),
        ("acme::key", None),
        ("x" * 401, None),
    ],
)
def test_task_ids_round_trip(text: str, parsed: TaskId | None) -> None:
    assert TaskId.parse(text) == parsed
    if parsed is not None:
        assert str(parsed) == text


def test_every_task_kind_of_the_api_is_served() -> None:
    config = load(
        GatewayConfig, environ={"GDTMESH_CODEC_KEYS": CODEC_KEYS, "GDTMESH_API_KEYS": f"a:{KEY_A}"}
    )
    kinds = task_kinds(config)
    requested = gateway_pb2.StartTaskRequest.DESCRIPTOR.oneofs_by_name["task"].fields
    detailed = gateway_pb2.Task.DESCRIPTOR.oneofs_by_name["details"].fields
    assert sorted(k.member for k in kinds) == sorted(f.name for f in requested)
    assert sorted(f.name for f in requested) == sorted(f.name for f in detailed)
    assert len({k.id_segment for k in kinds}) == len(kinds)


def test_a_short_codec_token_is_refused_without_showing_it() -> None:
    environ = {
        "GDTMESH_CODEC_KEYS": CODEC_KEYS,
        "GDTMESH_API_KEYS": f"a:{KEY_A}",
        "GDTMESH_CODEC_LISTEN": "127.0.0.1:8089",
        "GDTMESH_CODEC_TOKENS": "operator-token-0123456789,tiny",
    }
    with pytest.raises(ConfigError, match="16\\+ characters") as raised:
        load(GatewayConfig, environ=environ)
    assert "tiny" not in str(raised.value)
