# Shared by deploy/podman/*.sh (sourced): where things live, the podman settings, and podman
# itself installed from Debian's packages when the machine lacks it.
# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings are read by the scripts that source this
PODMAN_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$PODMAN_DIR/../.." && pwd)
STATE_DIR=${CSMS_LOCAL_DIR:-$REPO_ROOT/.local}
PODMAN_STATE="$STATE_DIR/podman"
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"

CSMS_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_ROOT/pyproject.toml" | head -1)
IMAGE=${CSMS_IMAGE:-localhost/csms:$CSMS_VERSION}
# The local base: Debian bookworm (debootstrap) with Debian's Python 3.11, the version the locks
# were resolved for. Its tag carries a digest of the recipe, so a changed recipe builds a new one.
BASE_PACKAGES=python3,python3-venv,ca-certificates
BASE_TAG=$(printf '%s' "$BASE_PACKAGES $(cat "$PODMAN_DIR/base.sh")" | sha256sum | cut -c1-12)
BASE_IMAGE=${CSMS_BASE_IMAGE:-localhost/csms-base:bookworm-py311-$BASE_TAG}

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Rootful podman (the development and CI machines run as root; debootstrap needs it anyway).
[ "$(id -u)" = 0 ] || { log "deploy/podman runs rootful podman and debootstrap: run it as root"; exit 1; }

# podman, runc and debootstrap from Debian's packages, once (deploy/local/stack.sh install).
ensure_podman() {
    bash "$REPO_ROOT/deploy/local/stack.sh" install podman >/dev/null
}

# The Debian mirror apt already uses on this machine (no host is written down here).
debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { log "no Debian mirror in apt's sources; set DEBIAN_MIRROR"; return 1; }
    echo "$uri"
}
