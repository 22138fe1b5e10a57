"""The image's recipe, checked without a Docker engine (none runs on the CI machines): a
multi-stage build, pinned base images, hash-locked dependencies that agree with pyproject.toml,
an unprivileged numeric user, and the ports the Kubernetes manifests use."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch

from packaging.requirements import Requirement

from csms.settings import PROJECT_ROOT
from tests.k8s.manifests import OVERLAYS, container_ports, csms_workloads, render

DOCKER = PROJECT_ROOT / "deploy" / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
LOCK_LINE = re.compile(r"^([a-z0-9._-]+)==([^ ]+) --hash=sha256:[0-9a-f]{64}$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def locked(name: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in (DOCKER / name).read_text().splitlines():
        if line.startswith("#"):
            continue
        match = LOCK_LINE.match(line)
        assert match, f"{name}: not name==version --hash=sha256:…: {line!r}"
        versions[match[1]] = match[2]
    return versions


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_multi_stage_build_on_a_pinned_base() -> None:
    steps = instructions()
    base = next(args for op, args in steps if op == "ARG" and args.startswith("PYTHON_IMAGE="))
    # An exact patch version: a moving tag (3.11-slim, latest) rebuilds into another image.
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+", base)
    stages = [args for op, args in steps if op == "FROM"]
    # amd64: the lock holds that platform's wheel hashes.
    assert stages == [
        "--platform=linux/amd64 ${PYTHON_IMAGE} AS build",
        "--platform=linux/amd64 ${PYTHON_IMAGE} AS runtime",
    ]
    froms = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    runtime = steps[froms[1] :]
    # Only the virtualenv crosses into the runtime stage: no compilers, no build tools.
    assert [args for op, args in runtime if op == "COPY"] == ["--from=build /opt/csms /opt/csms"]


def test_runs_as_an_unprivileged_numeric_user_with_the_csms_entry_point() -> None:
    steps = instructions()
    users = [args for op, args in steps if op == "USER"]
    assert users == ["10001:10001"]  # the runAsUser the manifests check (test_manifests)
    assert ("ENTRYPOINT", '["csms"]') in steps


def test_dependencies_are_installed_by_hash_only() -> None:
    installs = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    for command in installs:
        for part in command.split("&&"):
            if "-r " in part:
                assert "--require-hashes" in part and "--only-binary=:all:" in part, part


_ALSO_RUNTIME = ("packaging",)  # required by aiokafka


def test_the_lock_agrees_with_pyproject() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_canonical(k): v for k, v in locked("requirements.lock").items()}
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        assert _canonical(requirement.name) in runtime, f"{requirement.name} is not locked"
        assert requirement.specifier.contains(runtime[_canonical(requirement.name)]), spec
    # Neither the local mode's engine nor the dev tools go into the image (unless a runtime
    # dependency needs it too: aiokafka requires packaging, which the tests also import).
    for extra in ("local", "dev"):
        for spec in project["optional-dependencies"][extra]:
            name = _canonical(Requirement(spec).name)
            if name not in ("csms", *_ALSO_RUNTIME):
                assert name not in runtime, f"{name} ({extra}) is in the image's lock"
    build = {_canonical(k) for k in locked("build-requirements.lock")}
    backend = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["build-system"]
    assert {_canonical(Requirement(r).name) for r in backend["requires"]} <= build


def test_exposes_every_port_the_manifests_use() -> None:
    exposed = {int(p) for op, args in instructions() if op == "EXPOSE" for p in args.split()}
    for overlay in OVERLAYS:
        for workload in csms_workloads(render(overlay)):
            for port in container_ports(workload):
                assert port["containerPort"] in exposed


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything, then lets in what the COPY lines name."""
    rules = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    assert rules[rules.index("*") - 1].startswith("#") or rules[0] == "*"
    let_in = [r[1:].rstrip("/") for r in rules if r.startswith("!")]
    for op, args in instructions():
        if op == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert any(fnmatch(source.rstrip("/"), rule) for rule in let_in), source
