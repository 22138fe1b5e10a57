#!/usr/bin/env bash
# The image's runtime, without a Docker engine: the Dockerfile's install steps into a throwaway
# virtualenv (the locks, hashes required, wheels only; the project's wheel built with the locked
# hatchling), then `pip check`, `csms --help`, every service imported, and the size.
#   bash deploy/docker/runtime_check.sh        (make image-check)
set -euo pipefail
REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${CSMS_PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PYTHON" -m venv "$work/csms"
"$PYTHON" -m venv "$work/build"
pip_args=(-q --disable-pip-version-check --require-hashes --only-binary=:all: --no-deps)
"$work/csms/bin/pip" install "${pip_args[@]}" -r "$REPO_ROOT/deploy/docker/requirements.lock"
"$work/build/bin/pip" install "${pip_args[@]}" -r "$REPO_ROOT/deploy/docker/build-requirements.lock"
(cd "$REPO_ROOT" && "$work/build/bin/pip" wheel -q --no-deps --no-build-isolation \
    --wheel-dir "$work/wheels" .)
"$work/csms/bin/pip" install -q --no-deps "$work"/wheels/csms-*.whl
"$work/csms/bin/pip" check
CSMS_LOCAL_DIR="$work/state" "$work/csms/bin/csms" --help >/dev/null
CSMS_LOCAL_DIR="$work/state" "$work/csms/bin/python" -c '
import importlib
for name in ("gateway.main", "processors.main", "analytics.main", "api.main", "replay.job"):
    importlib.import_module("services." + name)
try:
    import chdb  # noqa: F401
    raise SystemExit("chDB is in the runtime: it belongs to the local extra only")
except ImportError:
    pass
'
echo "image runtime ok: $(du -sh "$work/csms" | cut -f1) virtualenv (plus the python slim base)"
