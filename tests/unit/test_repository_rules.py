"""Rules of the repository that are checks, not prose: no source module over 500 lines (a
module that grows past it does more than one thing - split it into a package whose file names
say what they hold), and every third-party package a module imports is a declared dependency."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 500
# Where a long file is data, not code, and splitting it would only scatter it.
TABLES: frozenset[str] = frozenset()


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [ROOT / line for line in out.stdout.splitlines() if (ROOT / line).is_file()]


def test_no_source_module_is_over_500_lines() -> None:
    sources = _tracked("*.py", "*.sh", ".ci/run")
    assert sources, "git ls-files found nothing: not a checkout?"
    long = {
        str(p.relative_to(ROOT)): n
        for p in sources
        if str(p.relative_to(ROOT)) not in TABLES
        and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"over {MAX_LINES} lines: {long}"


# Import name -> distribution name, where they differ.
_DISTRIBUTIONS = {
    "yaml": "pyyaml",
    "websocket": "websocket-client",
    "confluent_kafka": "confluent-kafka",
    "clickhouse_connect": "clickhouse-connect",
    "prometheus_client": "prometheus-client",
    "faust": "faust-streaming",
    "kubernetes_validate": "kubernetes-validate",
}
_FIRST_PARTY = {"csms", "services", "loadtests", "benchmarks", "tests"}
# Imported only inside a try/except ImportError, as an optional extra (said where it is).
_OPTIONAL = {"brotli"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = [
        *project["dependencies"],
        *(d for ds in project["optional-dependencies"].values() for d in ds),
    ]
    names = set()
    for spec in specs:
        name = spec.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()
        names.add(name.replace("_", "-"))
    return names


def _imported(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - _FIRST_PARTY - _OPTIONAL - set(sys.stdlib_module_names)


def test_every_imported_third_party_package_is_declared() -> None:
    declared = _declared()
    imported = _imported(
        _tracked(
            "libs/*.py",
            "services/*.py",
            "loadtests/*.py",
            "benchmarks/*.py",
            "tests/*.py",
            "deploy/*.py",
        )
    )
    missing = sorted(
        name
        for name in imported
        if _DISTRIBUTIONS.get(name, name).replace("_", "-").lower() not in declared
    )
    assert missing == [], f"imported but not declared in pyproject.toml: {missing}"
