"""The Kubernetes manifests as the tests see them: each overlay rendered by the pinned kustomize,
the objects it contains, and small lookups over them (pods behind a selector, their ports).

The tools come from `deploy/local/stack.sh install k8s` (`make test` runs it): kustomize and
csms-crd-check, the operators' schemas compiled from k8s/schema-check. Nothing is downloaded here.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from csms.settings import LOCAL_STATE_DIR, PROJECT_ROOT

K8S = PROJECT_ROOT / "k8s"
OVERLAYS = ("dev", "production")
TOOLS_BIN = LOCAL_STATE_DIR / "tools" / "bin"
# The groups whose schemas come from the operators (k8s/schema-check), not from Kubernetes.
OPERATOR_GROUPS = frozenset(
    {"kafka.strimzi.io", "clickhouse.altinity.com", "monitoring.coreos.com"}
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob")
SERVING_KINDS = ("Deployment", "StatefulSet")  # the ones with a selector and replicas

Obj = dict[str, Any]


def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run `deploy/local/stack.sh install k8s` (make test does)"
        )
    return path


@functools.cache
def _rendered(overlay: str) -> str:
    done = subprocess.run(
        [str(tool("kustomize")), "build", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"kustomize build {overlay} failed:\n{done.stderr}")
    return done.stdout


def render(overlay: str) -> list[Obj]:
    """A fresh copy of the overlay's objects (tests may change theirs)."""
    return [doc for doc in yaml.safe_load_all(_rendered(overlay)) if doc]


def operator_check(objects: list[Obj]) -> list[dict[str, Any]]:
    """csms-crd-check's verdict per object: {"checked": bool, "problems": [...]}."""
    done = subprocess.run(
        [str(tool("csms-crd-check"))],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=True,
    )
    verdicts: list[dict[str, Any]] = json.loads(done.stdout)
    return verdicts


def group_of(obj: Obj) -> str:
    api: str = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


def name_of(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def generated(objects: list[Obj], kind: str, name: str) -> Obj:
    """A ConfigMap or Secret that kustomize may have given a hash suffix (`name-<hash>`)."""
    pattern = re.compile(rf"^{re.escape(name)}(-[a-z0-9]{{10}})?$")
    found = [o for o in of_kind(objects, kind) if pattern.match(o["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def serving(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in SERVING_KINDS]


def pod_template(workload: Obj) -> Obj:
    spec = workload["spec"]
    template: Obj = (
        spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    )
    return template


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = pod_template(workload)["metadata"]["labels"]
    return labels


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = pod_template(workload)["spec"]
    return spec


def containers(workload: Obj) -> list[Obj]:
    found: list[Obj] = pod_spec(workload)["containers"]
    return found


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def selected_workloads(objects: list[Obj], selector: dict[str, str]) -> list[Obj]:
    return [w for w in workloads(objects) if selects(selector, pod_labels(w))]


def container_ports(workload: Obj) -> Iterator[Obj]:
    for container in containers(workload):
        yield from container.get("ports", [])


def has_port(workload: Obj, port: str | int) -> bool:
    """A named port is a containerPort name; a number is a containerPort number."""
    key = "name" if isinstance(port, str) else "containerPort"
    return any(p.get(key) == port for p in container_ports(workload))


def csms_workloads(objects: list[Obj]) -> list[Obj]:
    """The workloads that run the CSMS image (`csms <service>`)."""
    return [w for w in workloads(objects) if containers(w)[0]["image"].split(":")[0] == "csms"]


def component(workload: Obj) -> str:
    return pod_labels(workload)["app.kubernetes.io/component"]
