"""The Grafana dashboard (k8s/base/monitoring/grafana-dashboard.json) against the code.

Every metric a panel queries must be one the CSMS really exposes: the names come from the
prometheus_client registries the services serve at /metrics (the global REGISTRY for the
gateway, the processors and the analytics sink; each API app's own registry), so a renamed or
removed metric turns a silently empty panel into a failing test. Every component a
ServiceMonitor scrapes must have a panel, and every query must be scoped by `$namespace`.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, Metric

from services.api.metrics import ApiMetrics

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "k8s/base/monitoring/grafana-dashboard.json"
SERVICE_MONITORS = REPO / "k8s/base/monitoring/service-monitors.yaml"

# The modules that define the metrics on the global registry (the API's live in ApiMetrics).
# test_metric_modules_are_all_imported keeps this list complete.
METRIC_MODULES = (
    "services.gateway.metrics",
    "services.analytics.metrics",
    "services.api.metrics",
    "csms.projections.pipeline",
    "services.processors.station_messages",
)
# ServiceMonitor component label -> the prefix of the metrics that component defines.
COMPONENT_PREFIXES = {
    "gateway": "csms_gateway_",
    "processors": "csms_processor_",
    "analytics": "csms_analytics_",
    "api": "csms_api_",
}
# The sample names a family of each type exposes (prometheus_client strips `_total` from a
# counter family's name and adds it back on the sample).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
NAMESPACE_MATCHER = 'namespace="$namespace"'
KAFKA = REPO / "k8s/base/kafka/kafka.yaml"
# Metrics from outside the CSMS that the dashboard may use: Strimzi's Kafka Exporter, enabled by
# the Kafka resource (spec.kafkaExporter) and scraped by the PodMonitor csms-kafka-exporter.
KAFKA_EXPORTER_METRICS = frozenset({"kafka_consumergroup_lag"})
DATASOURCE_UID = "${datasource}"

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_METRIC_CONSTRUCTOR = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"")


def _load_dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return _load_dashboard()


def _families() -> Iterator[Metric]:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    yield from REGISTRY.collect()
    yield from ApiMetrics().registry.collect()


def sample_names(families: Iterable[Metric]) -> set[str]:
    """Every sample name the families can expose, including those of labelled metrics that have
    no child yet (which `collect()` reports without samples)."""
    names: set[str] = set()
    for family in families:
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    kafka = yaml.safe_load(KAFKA.read_text())
    assert "kafkaExporter" in kafka["spec"], "the dashboard reads the Kafka Exporter's lag"
    return sample_names(_families()) | KAFKA_EXPORTER_METRICS


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with the panels of collapsed rows."""
    out: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _graph_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in _panels(dashboard) if p.get("type") != "row"]


def _exprs(panel: dict[str, Any]) -> list[str]:
    return [str(t["expr"]) for t in panel.get("targets", []) if "expr" in t]


def metric_references(expr: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(selectors as (metric, matchers), bare identifiers outside any selector) of a PromQL
    expression. Quoted strings are blanked first: label values are not metric names."""
    unquoted = _QUOTED.sub('""', expr)
    selectors = [(m.group(1), m.group(2)) for m in _SELECTOR.finditer(expr)]
    bare = _IDENTIFIER.findall(_SELECTOR.sub(" ", unquoted))
    return selectors, bare


def test_metric_references_parses_promql() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(csms_api_x_bucket{namespace="n", '
        'status=~"5.."}[5m]))) / sum(csms_y)'
    )
    selectors, bare = metric_references(expr)
    assert selectors == [("csms_api_x_bucket", 'namespace="n", status=~"5.."')]
    assert "csms_y" in bare and "histogram_quantile" in bare


def test_sample_names_follow_prometheus_client_suffixes() -> None:
    names = sample_names(ApiMetrics().registry.collect())
    assert {"csms_api_requests_total", "csms_api_request_duration_seconds_bucket"} <= names
    assert "csms_api_requests" not in names  # a counter is only exposed with `_total`


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "csms-overview"
    assert dashboard["title"] == "CSMS overview"
    assert dashboard["schemaVersion"] == 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["type"] == "query"
    assert variables["namespace"]["datasource"]["uid"] == DATASOURCE_UID


def test_namespace_variable_reads_an_exposed_metric(
    dashboard: dict[str, Any], exposed: set[str]
) -> None:
    namespace = next(v for v in dashboard["templating"]["list"] if v["name"] == "namespace")
    query = namespace["query"]
    text = query["query"] if isinstance(query, dict) else query
    match = re.fullmatch(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*namespace\s*\)", text)
    assert match, text
    assert match.group(1) in exposed


def test_panels_have_unique_ids_and_queries(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), ids
    graphs = _graph_panels(dashboard)
    assert 12 <= len(graphs) <= 24
    for panel in graphs:
        assert panel.get("title"), panel["id"]
        assert panel["targets"], panel["title"]
        assert all(t.get("expr") for t in panel["targets"]), panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_panels_use_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    for panel in _graph_panels(dashboard):
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        for target in panel["targets"]:
            uid = target.get("datasource", panel["datasource"])["uid"]
            assert uid == DATASOURCE_UID, panel["title"]


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


def test_every_metric_is_exposed_and_namespaced(
    dashboard: dict[str, Any], exposed: set[str]
) -> None:
    unknown: set[str] = set()
    unscoped: list[str] = []
    for panel in _graph_panels(dashboard):
        for expr in _exprs(panel):
            selectors, bare = metric_references(expr)
            for metric, matchers in selectors:
                if metric not in exposed:
                    unknown.add(metric)
                if NAMESPACE_MATCHER not in matchers:
                    unscoped.append(f"{panel['title']}: {metric}")
            # A metric outside any selector (`sum(csms_x)`) has no namespace matcher.
            for name in bare:
                if name.startswith("csms_") or name in exposed:
                    unscoped.append(f"{panel['title']}: {name}")
                    if name not in exposed:
                        unknown.add(name)
    assert not unknown, f"metrics the code does not expose: {sorted(unknown)}"
    assert not unscoped, f"metrics without {NAMESPACE_MATCHER}: {unscoped}"


def _scraped_components() -> list[str]:
    components = []
    for doc in yaml.safe_load_all(SERVICE_MONITORS.read_text()):
        if doc and doc.get("kind") == "ServiceMonitor":
            labels = doc["spec"]["selector"]["matchLabels"]
            components.append(str(labels["app.kubernetes.io/component"]))
    return components


def test_every_scraped_component_has_a_panel(dashboard: dict[str, Any]) -> None:
    components = _scraped_components()
    assert set(COMPONENT_PREFIXES) <= set(components), components
    used = {
        metric
        for panel in _graph_panels(dashboard)
        for expr in _exprs(panel)
        for metric, _ in metric_references(expr)[0]
    }
    for component in components:
        assert component in COMPONENT_PREFIXES, f"no metric prefix known for {component}"
        prefix = COMPONENT_PREFIXES[component]
        assert any(m.startswith(prefix) for m in used), f"no panel for {component}"


def test_metric_modules_are_all_imported() -> None:
    """A new module defining metrics must join METRIC_MODULES, or its names look unknown."""
    defining = set()
    for root in (REPO / "services", REPO / "libs/csms"):
        for path in root.rglob("*.py"):
            source = path.read_text()
            if "prometheus_client" in source and _METRIC_CONSTRUCTOR.search(source):
                module = path.relative_to(REPO / "libs" if root.name == "csms" else REPO)
                defining.add(".".join(module.with_suffix("").parts))
    assert defining <= set(METRIC_MODULES), sorted(defining - set(METRIC_MODULES))
