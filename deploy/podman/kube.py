"""The dev overlay's CSMS workloads as a file for `podman kube play`.

    python deploy/podman/kube.py --out .local/podman/csms-dev.yaml [--port-base N] …

The objects are rendered by the pinned kustomize (`deploy/local/stack.sh install k8s`) from
k8s/overlays/dev and changed only where a single podman host differs from a cluster; every change
is listed in `LOCAL_CHANGES` and printed, and every object left out is printed with the reason.
What stays as the manifests say: the image's entry point and arguments, the ConfigMap and Secret
and how the containers read them, the security context (non-root 10001, read-only root file
system, no capabilities, no privilege escalation), the emptyDir volumes, ports, probes (checked
by deploy/podman/stack.sh from outside, since podman runs httpGet probes with a curl the image
does not have), the preStop hook and the grace period.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Where deploy/local/stack.sh installs it (`install kustomize`) for this state folder.
KUSTOMIZE = Path(os.environ.get("CSMS_LOCAL_DIR", REPO / ".local")) / "tools" / "bin" / "kustomize"
CSMS_DEPLOYMENTS = ("csms-gateway", "csms-processors", "csms-analytics", "csms-api")
# The service each Deployment runs and the ConfigMap key of its listening port.
PORT_KEYS = {
    "csms-gateway": "GATEWAY_PORT",
    "csms-api": "API_PORT",
    "csms-analytics": "CLICKHOUSE_HTTP_PORT",
    "csms-processors": "PROCESSORS_WEB_PORT",
}
PORT_OFFSETS = {"csms-gateway": 0, "csms-api": 1, "csms-analytics": 2, "csms-processors": 3}

# Why what the overlay also holds does not run under `podman kube play` (4.3 plays Pods,
# Deployments, ConfigMaps, Secrets and PersistentVolumeClaims only).
LEFT_OUT = {
    "Kafka": "Strimzi custom resource: needs the operator (Kafka runs on the host instead)",
    "KafkaNodePool": "Strimzi custom resource: needs the operator",
    "KafkaTopic": "Strimzi custom resource: the CSMS creates its topics on the host's Kafka",
    "ClickHouseInstallation": "Altinity custom resource: needs the operator (a ClickHouse "
    "server on the host instead)",
    "StatefulSet": "not a kind podman plays (Redis runs on the host instead)",
    "CronJob": "not a kind podman plays (the replay job: `podman run … replay` by hand)",
    "Service": "no cluster DNS or virtual IPs: the pods share the host's network",
    "Ingress": "needs an ingress controller",
    "NetworkPolicy": "needs a CNI that enforces it",
    "HorizontalPodAutoscaler": "needs the metrics API and a controller",
    "PodDisruptionBudget": "needs the eviction API",
    "ServiceMonitor": "Prometheus operator custom resource",
    "PodMonitor": "Prometheus operator custom resource",
    "Namespace": "podman has no namespaces",
}
LOCAL_CHANGES = (
    "image: the locally built image, never pulled",
    "hostNetwork: true (no Services here; Kafka advertises a loopback address)",
    "ConfigMap KAFKA_BOOTSTRAP, REDIS_URL and the ports point at this host",
    "ports: no list (podman refuses port mappings on the host's network); probes name the "
    "port by number",
    "analytics CLICKHOUSE_URL: the host's ClickHouse server, with the Secret's password",
    "Secret: podman 4.3 reads secretKeyRef from a podman secret holding the Secret's data map "
    "as JSON (`podman secret create csms-secrets <--secret-out>`), not from the played file",
    "emptyDir volumes: named after their Deployment (podman 4.3 makes each a named volume, "
    "shared by every pod that uses the same name)",
    "GATEWAY_ID: fieldRef metadata.name is the Deployment's pod name here",
    "CSMS_TOPIC_PREFIX, consumer group and app ids: set when asked (--topic-prefix), so a "
    "test run is isolated from others on the same Kafka",
)

Obj = dict[str, Any]


def render(overlay: Path) -> list[Obj]:
    out = subprocess.run(
        [str(KUSTOMIZE), "build", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _container(deployment: Obj) -> Obj:
    container: Obj = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def _secret_value(secret: Obj, key: str) -> str:
    if key in secret.get("stringData", {}):
        return str(secret["stringData"][key])
    return base64.b64decode(secret["data"][key]).decode()


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of an env value (podman 4.3 does not do it)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def csms_secret(docs: Iterable[Obj]) -> Obj:
    return next(
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "csms-secrets"
    )


def localize(docs: Iterable[Obj], args: argparse.Namespace) -> tuple[list[Obj], list[str]]:
    """The objects podman plays, changed for one host; and the lines saying what was left out."""
    kept: list[Obj] = []
    left_out: list[str] = []
    secret = csms_secret(docs)
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Deployment" and name in CSMS_DEPLOYMENTS:
            kept.append(_deployment(doc, secret, args))
        elif kind == "ConfigMap" and name.startswith("csms-config"):
            kept.append(_config_map(doc, args))
        elif kind == "Secret" and name == "csms-secrets":
            left_out.append(f"{kind}/{name}: a podman secret of that name instead (--secret-out)")
        else:
            reason = LEFT_OUT.get(kind, "not part of the CSMS services")
            left_out.append(f"{kind}/{name}: {reason}")
    return kept, left_out


def _port(name: str, args: argparse.Namespace, default: int) -> int:
    return args.port_base + PORT_OFFSETS[name] if args.port_base else default


def _config_map(doc: Obj, args: argparse.Namespace) -> Obj:
    data = dict(doc["data"])
    data["KAFKA_BOOTSTRAP"] = args.kafka
    data["REDIS_URL"] = args.redis_url
    for deployment, key in PORT_KEYS.items():
        data[key] = str(_port(deployment, args, int(data[key])))
    if args.topic_prefix:
        data["CSMS_TOPIC_PREFIX"] = args.topic_prefix
        run = args.topic_prefix.rstrip(".")
        data["PROCESSORS_APP_ID"] = f"csms-processors-{run}"
        data["ANALYTICS_GROUP_ID"] = f"csms-analytics-{run}"
    return {**doc, "data": data}


def _deployment(doc: Obj, secret: Obj, args: argparse.Namespace) -> Obj:
    name = doc["metadata"]["name"]
    pod = doc["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    container = _container(doc)
    # podman 4.3 plays an emptyDir as a named volume: the same name in two pods would share it.
    for volume in pod.get("volumes", []):
        for mount in container.get("volumeMounts", []):
            if mount["name"] == volume["name"]:
                mount["name"] = f"{name}-{volume['name']}"
        volume["name"] = f"{name}-{volume['name']}"
    container["image"] = args.image
    container["imagePullPolicy"] = "Never"
    # podman refuses port mappings with the host's network: the named ports the probes use
    # become numbers, and the list goes.
    ports = {p["name"]: _port(name, args, p["containerPort"]) for p in container.pop("ports", [])}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if http := container.get(probe, {}).get("httpGet"):
            http["port"] = ports.get(http["port"], http["port"])
    container["env"] = [_local_env(var, name, secret, args) for var in container.get("env", [])]
    return doc


def _local_env(var: Obj, deployment: str, secret: Obj, args: argparse.Namespace) -> Obj:
    """One env entry of a container, for this host (see LOCAL_CHANGES)."""
    ref = var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    if var["name"] == "CLICKHOUSE_URL":
        password = _secret_value(secret, "CLICKHOUSE_PASSWORD")
        user = re.match(r"https?://([^:@/]+)", var["value"])
        who = f"{user[1]}:{password}@" if user else ""
        return {"name": var["name"], "value": f"http://{who}{args.clickhouse}/default"}
    if ref == "metadata.name":
        return {"name": var["name"], "value": f"{deployment}-pod-0"}
    return var


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--secret-out", type=Path, required=True, help="the Secret, as JSON")
    parser.add_argument("--overlay", type=Path, default=REPO / "k8s" / "overlays" / "dev")
    parser.add_argument("--image", default="localhost/csms:0.1.0")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--clickhouse", default="127.0.0.1:8124", help="host:port of ClickHouse")
    parser.add_argument("--port-base", type=int, default=0, help="gateway, api, analytics, "
                        "processors on N … N+3 (default: the manifests' ports)")  # fmt: skip
    parser.add_argument("--topic-prefix", default="")
    args = parser.parse_args(argv)
    docs = render(args.overlay)
    kept, left_out = localize(docs, args)
    secret = csms_secret(docs)
    args.secret_out.parent.mkdir(parents=True, exist_ok=True)
    # podman 4.3 wants the Secret's data map itself (key -> base64), not the object.
    args.secret_out.write_text(json.dumps(secret["data"]))
    args.secret_out.chmod(0o600)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump_all(kept, sort_keys=False))
    names = ", ".join(f"{doc['kind']}/{doc['metadata']['name']}" for doc in kept)
    print(f"{args.out}: {names}")
    for line in LOCAL_CHANGES:
        print(f"  changed: {line}")
    for line in left_out:
        print(f"  left out: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
