"""The compose mesh's alert rules and dashboards are well formed: every expression parses
(promql-parser, Prometheus's grammar) and names a metric; an alert says how long and how bad.
That they name only exported metrics is checked against a running mesh in tests/docs."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support.dashboards import ALERTS, DASHBOARDS, expressions, metric_names

EXPRESSIONS = expressions()


def test_there_is_a_dashboard_and_alerts() -> None:
    assert DASHBOARDS
    assert sum(key.startswith("alert ") for key in EXPRESSIONS) >= 5


@pytest.mark.parametrize("where", sorted(EXPRESSIONS))
def test_every_expression_parses_and_names_a_metric(where: str) -> None:
    assert metric_names(EXPRESSIONS[where]), where


def test_a_broken_expression_is_caught() -> None:
    with pytest.raises(ValueError):
        metric_names("sum(rate(gdtmesh_invoices_failed_total[5m])")


def test_alerts_say_how_bad_and_what() -> None:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]


def test_dashboards_use_the_provisioned_datasource() -> None:
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["panels"]
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "prometheus", panel["title"]
