#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The production image, built for real with podman from deploy/docker/Dockerfile.
#   bash deploy/podman/image.sh build    (make image)   base image, locked wheels, podman build
#   bash deploy/podman/image.sh background   the same, detached (make test starts it early so
#                                          that make k8s finds the image built); background.log
#   bash deploy/podman/image.sh facts    size and layers as JSON
# Layers are cached by podman between runs (its own storage), the base image by its recipe's
# digest, the locked wheels in .local/podman/wheels. CSMS_PYTHON_IMAGE=python:3.11.14-slim-bookworm
# builds on the official image instead, where a registry is reachable.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname -- "${BASH_SOURCE[0]}")/base.sh"

# The locks' wheels, downloaded by the host's pip (the same interpreter and platform the locks
# were resolved for, so the same files and hashes): the build then reaches no index.
download_wheels() {
    local wheels="$PODMAN_STATE/wheels" python=${CSMS_PYTHON:-$REPO_ROOT/.venv/bin/python}
    local locks="$REPO_ROOT/deploy/docker/requirements.lock $REPO_ROOT/deploy/docker/build-requirements.lock"
    local digest
    # shellcheck disable=SC2086 # two paths
    digest=$(cat $locks | sha256sum | cut -c1-16)
    [ -f "$wheels/.locks-$digest" ] && return 0
    [ -x "$python" ] || python=python3.11
    mkdir -p "$wheels"
    for lock in requirements.lock build-requirements.lock; do
        "$python" -m pip download -q --disable-pip-version-check --require-hashes \
            --only-binary=:all: --no-deps -d "$wheels" -r "$REPO_ROOT/deploy/docker/$lock"
    done
    touch "$wheels/.locks-$digest"
}

build() {
    ensure_podman
    mkdir -p "$PODMAN_STATE"
    # One build at a time (a background build and `make k8s` may meet): the second waits, then
    # finds every layer cached.
    exec 8>"$PODMAN_STATE/build.lock"
    flock 8
    local started base=${CSMS_PYTHON_IMAGE:-}
    started=$(date +%s%N)
    local -a args=(--isolation chroot -f "$REPO_ROOT/deploy/docker/Dockerfile" -t "$IMAGE")
    if [ -z "$base" ]; then
        build_base_image
        base=$BASE_IMAGE
        download_wheels
        args+=(--volume "$PODMAN_STATE/wheels:/wheelhouse:ro" --build-arg PIP_WHEELHOUSE=/wheelhouse)
    fi
    log "podman build $IMAGE on $base"
    podman build "${args[@]}" --build-arg "PYTHON_IMAGE=$base" --layers "$REPO_ROOT" \
        >"$PODMAN_STATE/build.log" 2>&1 || { tail -30 "$PODMAN_STATE/build.log" >&2; return 1; }
    # No prune here: the build stage's layers are untagged, and pruning them is dropping the
    # cache. Old layers go with `podman image prune` (docs/kubernetes.md, "Image").
    local ms=$((($(date +%s%N) - started) / 1000000))
    printf '{"image": "%s", "base": "%s", "seconds": %d.%03d}\n' "$IMAGE" "$base" \
        $((ms / 1000)) $((ms % 1000)) \
        | tee "$PODMAN_STATE/build.json"
}

facts() {
    local size layers compressed
    size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
    layers=$(podman image inspect "$IMAGE" --format '{{len .RootFS.Layers}}')
    compressed=$(podman save --format oci-archive "$IMAGE" 2>/dev/null | gzip -6 | wc -c)
    printf '{"image": "%s", "bytes": %s, "gzip_bytes": %s, "layers": %s}\n' \
        "$IMAGE" "$size" "$compressed" "$layers"
}

case "${1:-build}" in
    build) build ;;
    background)
        mkdir -p "$PODMAN_STATE"
        setsid nohup bash "${BASH_SOURCE[0]}" build >"$PODMAN_STATE/background.log" 2>&1 </dev/null &
        log "image build started in the background (log: $PODMAN_STATE/background.log)"
        ;;
    facts) facts ;;
    *) echo "usage: $0 build|background|facts" >&2; exit 2 ;;
esac
