"""Every overlay of k8s/, rendered by kustomize and checked offline, three ways:

1. schemas: each built-in object against the Kubernetes API's own schema (kubernetes-validate,
   strict: an unknown field fails, as `kubectl apply` under server-side field validation does), each
   operator resource against its operator's schema (k8s/schema-check);
2. cross-references a schema cannot see: selectors, ports, names, Secrets;
3. agreement with the code: the settings the containers get parse with `Settings.from_env`, are
   settings the code reads, and point at the Services that exist; topics and partitions match
   `Settings.topics`; the gateway's grace period covers its drain.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from csms.settings import PROJECT_ROOT, Settings, Topics
from services.cli import SERVICES
from tests.k8s.manifests import (
    OPERATOR_GROUPS,
    OVERLAYS,
    Obj,
    component,
    containers,
    csms_workloads,
    generated,
    group_of,
    has_port,
    name_of,
    of_kind,
    one,
    operator_check,
    pod_labels,
    pod_spec,
    render,
    selected_workloads,
    selects,
    serving,
    workloads,
)

KUBERNETES_VERSION = "1.31.0"  # the newest schemas kubernetes-validate 1.31 carries
# What the gateway's SIGTERM path may take after the drain window: librdkafka's flush bound
# (services/gateway/kafka_sink.py, LibrdkafkaSink.stop).
KAFKA_FLUSH_S = 30
# websockets' default close_timeout (services/gateway/server.py does not change it): the server
# waits that long for the last closing handshakes; then the command inbox's grace.
WEBSOCKET_CLOSE_TIMEOUT_S = 10
INBOX_CLOSE_S = 1
# Secrets the operator creates before applying (docs/kubernetes.md "Secrets"); an overlay may
# generate any of them instead (dev does csms-secrets).
EXTERNAL_SECRETS = {"csms-secrets", "csms-station-ca", "csms-ocpp-tls", "csms-api-tls"}
DOCS = PROJECT_ROOT / "docs" / "kubernetes.md"

pytestmark = pytest.mark.parametrize("overlay", OVERLAYS)


@functools.cache
def _env_names_read_by_the_code() -> frozenset[str]:
    pattern = re.compile(r'(?:_env\w*|environ\.get|getenv)\(\s*"([A-Z][A-Z0-9_]+)"')
    names: set[str] = set()
    for root in ("libs", "services"):
        for path in (PROJECT_ROOT / root).rglob("*.py"):
            names.update(pattern.findall(path.read_text()))
    return frozenset(names)


def container_env(objects: list[Obj], container: Obj) -> dict[str, str]:
    """The environment Kubernetes would give the container: its ConfigMaps, then its own
    variables ($(VAR) expanded; Secrets and pod fields as stand-in values)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update(one(objects, "ConfigMap", ref)["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = re.sub(
                r"\$\(([A-Z0-9_]+)\)", lambda m: env.get(m[1], m[0]), var["value"]
            )
        elif "secretKeyRef" in var["valueFrom"]:
            env[var["name"]] = f"secret{var['valueFrom']['secretKeyRef']['key'].lower()}"
        else:
            env[var["name"]] = "csms-gateway-7d9f-abcde"  # a fieldRef: the pod's name
    return env


def settings_of(
    objects: list[Obj], workload: Obj, monkeypatch: pytest.MonkeyPatch
) -> tuple[Settings, dict[str, str]]:
    env = container_env(objects, containers(workload)[0])
    for name in _env_names_read_by_the_code():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(), env


# -- 1. schemas -----------------------------------------------------------------------------------


def test_every_object_validates_against_its_schema(overlay: str) -> None:
    objects = render(overlay)
    verdicts = operator_check(objects)
    problems: list[str] = []
    for obj, verdict in zip(objects, verdicts, strict=True):
        if group_of(obj) in OPERATOR_GROUPS:
            if not verdict["checked"]:
                problems.append(f"{name_of(obj)}: no operator schema for {obj['apiVersion']}")
            problems += [f"{name_of(obj)}: {p}" for p in verdict["problems"]]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            problems.append(f"{name_of(obj)}: {where}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_a_schema_error_is_caught(overlay: str) -> None:
    """The validators would see a mistake (an unknown field on each side)."""
    objects = render(overlay)
    gateway = one(objects, "Deployment", "csms-gateway")
    containers(gateway)[0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(gateway, KUBERNETES_VERSION, strict=True)
    topic = one(objects, "KafkaTopic", "ocpp.frames")
    topic["spec"]["partition"] = 3
    assert operator_check([topic])[0]["problems"] == ["unknown field: spec.partition"]


def test_every_object_lives_in_the_csms_namespace(overlay: str) -> None:
    for obj in render(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "csms", name_of(obj)


# -- 2. cross-references --------------------------------------------------------------------------


def test_workloads_select_their_own_pods(overlay: str) -> None:
    for workload in serving(render(overlay)):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selects(selector, pod_labels(workload)), name_of(workload)


def test_services_reach_pods_on_ports_they_expose(overlay: str) -> None:
    objects = render(overlay)
    for service in of_kind(objects, "Service"):
        targets = selected_workloads(objects, service["spec"]["selector"])
        assert len(targets) == 1, f"{name_of(service)} selects {len(targets)} workloads"
        for port in service["spec"]["ports"]:
            assert has_port(targets[0], port["targetPort"]), f"{name_of(service)} {port}"


def test_ingresses_route_to_service_ports(overlay: str) -> None:
    objects = render(overlay)
    for ingress in of_kind(objects, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = one(objects, "Service", backend["name"])
                names = {p["name"] for p in service["spec"]["ports"]}
                assert backend["port"]["name"] in names, name_of(ingress)


def test_budgets_and_autoscaler_target_real_workloads(overlay: str) -> None:
    objects = render(overlay)
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        targets = selected_workloads(objects, pdb["spec"]["selector"]["matchLabels"])
        assert len(targets) == 1, name_of(pdb)
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        target = one(objects, ref["kind"], ref["name"])
        # The autoscaler owns the count: a replicas field would reset it on every apply.
        assert "replicas" not in target["spec"], name_of(target)
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_service_monitors_scrape_named_service_ports(overlay: str) -> None:
    objects = render(overlay)
    services = of_kind(objects, "Service")
    for monitor in of_kind(objects, "ServiceMonitor"):
        matched = [
            s
            for s in services
            if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(matched) == 1, name_of(monitor)
        ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports, name_of(monitor)
    scraped = {m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for m in
               of_kind(objects, "ServiceMonitor")}  # fmt: skip
    assert scraped == {component(w) for w in serving(objects) if w in csms_workloads(objects)}


def test_network_policies_select_pods_and_their_ports(overlay: str) -> None:
    objects = render(overlay)
    chi = one(objects, "ClickHouseInstallation", "csms")
    for policy in of_kind(objects, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        if selector == {"clickhouse.altinity.com/chi": chi["metadata"]["name"]}:
            continue  # the operator's pods, labelled with the installation's name
        targets = selected_workloads(objects, selector)
        assert targets, f"{name_of(policy)} selects no pod"
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert selected_workloads(objects, peer["podSelector"]["matchLabels"])
            for port in rule["ports"]:
                assert all(has_port(t, port["port"]) for t in targets), (name_of(policy), port)


def test_every_secret_is_generated_or_documented(overlay: str) -> None:
    objects = render(overlay)
    generated_here = {s["metadata"]["name"] for s in of_kind(objects, "Secret")}
    referenced: set[str] = set()
    for workload in workloads(objects):
        for container in containers(workload):
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.add(ref["name"])
    for ingress in of_kind(objects, "Ingress"):
        referenced.update(t["secretName"] for t in ingress["spec"]["tls"])
        ca = ingress["metadata"]["annotations"].get("nginx.ingress.kubernetes.io/auth-tls-secret")
        if ca:
            namespace, name = ca.split("/")
            assert namespace == "csms"
            referenced.add(name)
    users = one(objects, "ClickHouseInstallation", "csms")["spec"]["configuration"]["users"]
    referenced.update(v.split("/")[0] for k, v in users.items() if k.endswith("secret_password"))
    assert referenced - generated_here <= EXTERNAL_SECRETS
    documented = DOCS.read_text()
    for name in EXTERNAL_SECRETS:
        assert f"`{name}`" in documented, f"docs/kubernetes.md does not tell how to create {name}"


# -- 3. agreement with the code -------------------------------------------------------------------


def test_containers_run_csms_services_on_the_ports_they_listen_on(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    listens = {
        "gateway": lambda s: s.gateway_port,
        "processors": lambda s: s.processors_web_port,
        "analytics": lambda s: s.clickhouse_http_port,
        "api": lambda s: s.api_port,
    }
    services = [w for w in csms_workloads(objects) if w["kind"] == "Deployment"]
    assert {component(w) for w in services} == set(SERVICES)
    jobs = [w for w in csms_workloads(objects) if w["kind"] == "CronJob"]
    assert [containers(j)[0]["args"] for j in jobs] == [["replay", "--from-beginning"]]
    assert all(j["spec"]["suspend"] for j in jobs)  # templates: run with kubectl create job
    for workload in services:
        container = containers(workload)[0]
        assert container["args"] == [component(workload)]
        settings, _ = settings_of(objects, workload, monkeypatch)
        port = listens[component(workload)](settings)
        assert [p["containerPort"] for p in container["ports"]] == [port], name_of(workload)


def test_every_variable_given_is_read_by_the_code(overlay: str) -> None:
    objects = render(overlay)
    read = _env_names_read_by_the_code()
    config = generated(objects, "ConfigMap", "csms-config")
    assert set(config["data"]) <= read, set(config["data"]) - read
    for workload in csms_workloads(objects):
        container = containers(workload)[0]
        values = " ".join(v.get("value", "") for v in container.get("env", []))
        for var in container.get("env", []):
            # A variable only there to be expanded into another one is fine.
            assert var["name"] in read or f"$({var['name']})" in values, var["name"]


def test_settings_parse_and_point_at_what_the_manifests_run(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    kafka = one(objects, "Kafka", "csms")
    plain = next(x for x in kafka["spec"]["kafka"]["listeners"] if not x["tls"])
    redis = one(objects, "Service", "csms-redis")
    chi = one(objects, "ClickHouseInstallation", "csms")
    for workload in csms_workloads(objects):
        settings, _ = settings_of(objects, workload, monkeypatch)
        assert settings.kafka_bootstrap == f"csms-kafka-bootstrap:{plain['port']}"
        assert urlsplit(settings.redis_url).hostname == redis["metadata"]["name"]
        assert urlsplit(settings.redis_url).port == redis["spec"]["ports"][0]["port"]
        if component(workload) == "analytics":
            url = urlsplit(settings.clickhouse_url)
            assert (url.scheme, url.hostname, url.port) == ("http", "clickhouse-csms", 8123)
            assert url.username is not None
            assert f"{url.username}/k8s_secret_password" in chi["spec"]["configuration"]["users"]
        if component(workload) == "gateway":
            # Its own pod's name: operator commands are routed to the gateway holding a station.
            env = containers(workload)[0]["env"]
            assert {
                "name": "GATEWAY_ID",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            } in env
            assert settings.gateway_host == "0.0.0.0"


def test_topics_are_the_codes_with_its_partitions(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    settings, _ = settings_of(objects, one(objects, "Deployment", "csms-processors"), monkeypatch)
    topics = of_kind(objects, "KafkaTopic")
    assert {t["metadata"]["name"] for t in topics} == set(Topics().all())
    brokers = sum(
        p["spec"]["replicas"]
        for p in of_kind(objects, "KafkaNodePool")
        if "broker" in p["spec"]["roles"]
    )
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "csms"
        assert topic["spec"]["partitions"] == settings.kafka_partitions, name_of(topic)
        replicas = topic["spec"]["replicas"]
        # The services create a missing topic the same way (ensure_topics, faust).
        assert replicas == settings.kafka_replication_factor, name_of(topic)
        assert replicas <= brokers
        # acks=all keeps working with one replica down.
        assert topic["spec"]["config"]["min.insync.replicas"] == max(1, replicas - 1)


def test_processor_replicas_are_tied_to_partitions(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    processors = one(objects, "Deployment", "csms-processors")
    settings, _ = settings_of(objects, processors, monkeypatch)
    replicas = processors["spec"]["replicas"]
    # Every replica gets the same number of partitions; none sits idle.
    assert settings.kafka_partitions % replicas == 0


def test_gateway_drain_fits_its_grace_period_and_the_proxy_waits_longer(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render(overlay)
    gateway = one(objects, "Deployment", "csms-gateway")
    settings, _ = settings_of(objects, gateway, monkeypatch)
    pod = pod_spec(gateway)
    pre_stop = containers(gateway)[0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    needed = (
        int(pre_stop[1])
        + settings.gateway_drain_window_s
        + WEBSOCKET_CLOSE_TIMEOUT_S
        + INBOX_CLOSE_S
        + KAFKA_FLUSH_S
    )
    assert pod["terminationGracePeriodSeconds"] >= needed
    annotations = one(objects, "Ingress", "csms-gateway")["metadata"]["annotations"]
    timeout = int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert timeout > settings.gateway_idle_timeout_s > settings.heartbeat_interval_s
    assert settings.gateway_client_cert == "optional"
    assert annotations["nginx.ingress.kubernetes.io/auth-tls-verify-client"] == "optional"


def test_csms_pods_run_unprivileged_as_the_images_user(overlay: str) -> None:
    for workload in csms_workloads(render(overlay)):
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # deploy/docker/Dockerfile USER
        context: dict[str, Any] = containers(workload)[0]["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


def test_kraft_has_controllers_and_brokers(overlay: str) -> None:
    pools = of_kind(render(overlay), "KafkaNodePool")
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert any("broker" in p["spec"]["roles"] for p in pools)
    assert controllers % 2 == 1  # a majority survives one loss (or there is one, in dev)
    for pool in pools:
        assert set(pool["spec"]["roles"]) <= {"controller", "broker"}
