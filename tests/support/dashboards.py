"""The PromQL of the compose mesh's alert rules and Grafana dashboards, and the metrics it names."""

from __future__ import annotations

import json
from pathlib import Path

import promql_parser
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose"
ALERTS = COMPOSE / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((COMPOSE / "grafana" / "dashboards").glob("*.json"))
# Series Prometheus makes itself, exported by no process.
PROMETHEUS_OWN = {"up"}


def expressions() -> dict[str, str]:
    """Every expression, by where it is (alert name, dashboard and panel title)."""
    found = {
        f"alert {rule['alert']}": rule["expr"]
        for group in yaml.safe_load(ALERTS.read_text())["groups"]
        for rule in group["rules"]
    }
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                found[f"{path.name}: {panel['title']} ({target['refId']})"] = target["expr"]
    return found


def metric_names(expression: str) -> set[str]:
    """The metrics an expression selects (ValueError when it does not parse)."""
    names: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expression), pre_visit=visit)
    return names
