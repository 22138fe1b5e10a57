#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The local CSMS stack, nothing mocked: Apache Kafka (KRaft, one combined broker + controller, jars
# from Maven Central), Redis (the OS package) and the CSMS services (`csms up`).
#
#   stack.sh install [python|redis|kafka|nginx|k8s|kustomize|podman ...] default: the first three; skipped
#                          when done (nginx: the TLS edge test; k8s: kustomize, csms-crd-check;
#                          podman: podman, runc, debootstrap for deploy/podman)
#   stack.sh start   [kafka|redis|csms|all ...]  default: all; already running is fine
#   stack.sh stop    [csms|kafka|redis|all ...]  default: all; not running is fine
#   stack.sh wait    [kafka|redis|csms|all ...]  wait until healthy, start nothing
#   stack.sh status | endpoints | wipe
#
# All state (jars, data, logs, pid files) lives in one folder: ${CSMS_LOCAL_DIR:-<repo>/.local}.
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), REDIS_PORT (6379), GATEWAY_PORT
# (9000), API_PORT (8080), CLICKHOUSE_HTTP_PORT (8123), JAVA_HOME, KAFKA_HEAP_OPTS, and the
# *_START_TIMEOUT / *_STOP_TIMEOUT seconds below.
# A Kafka or Redis that something else already runs on its port is used as it is, and never stopped.
#
# Every process started here carries CSMS_STACK_STATE=<state folder> in its environment (Redis: its
# working folder): that is how a stale pid file is told from a live one, and how `stop all` finds
# anything left behind.
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$REPO_ROOT/deploy/local"
STATE_DIR=$(realpath -m -- "${CSMS_LOCAL_DIR:-$REPO_ROOT/.local}")

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
REDIS_PORT=${REDIS_PORT:-6379}
GATEWAY_PORT=${GATEWAY_PORT:-9000}
API_PORT=${API_PORT:-8080}
CLICKHOUSE_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-8123}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
REDIS_START_TIMEOUT=${REDIS_START_TIMEOUT:-20}
REDIS_STOP_TIMEOUT=${REDIS_STOP_TIMEOUT:-10}
CSMS_START_TIMEOUT=${CSMS_START_TIMEOUT:-90}
CSMS_STOP_TIMEOUT=${CSMS_STOP_TIMEOUT:-20}

LOG_DIR="$STATE_DIR/logs"
RUN_DIR="$STATE_DIR/run"
KAFKA_DIR="$STATE_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
# The Kubernetes manifests' offline checkers (tests/k8s): kustomize, and the operators' schemas
# compiled into k8s/schema-check. Built from the Go module proxy and crates.io, pinned.
TOOLS_BIN="$STATE_DIR/tools/bin"
KUSTOMIZE_VERSION=v5.5.0
KAFKA_DATA="$KAFKA_DIR/data"
REDIS_DIR="$STATE_DIR/redis"
VENV="$REPO_ROOT/.venv"
PY="$VENV/bin/python"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
OWNER_VAR=CSMS_STACK_STATE

# The services talk to the Kafka and Redis started here unless told otherwise.
export CSMS_LOCAL_DIR="$STATE_DIR"
export KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:$KAFKA_PORT}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}"
export GATEWAY_PORT API_PORT CLICKHOUSE_HTTP_PORT
export PYTHONUNBUFFERED=1 # service logs reach csms.log as they happen

# The parts, one per component (each sourced, not run: they share these settings).
PARTS="$HERE/parts"
# shellcheck source=parts/processes.sh
source "$PARTS/processes.sh"
# shellcheck source=parts/install.sh
source "$PARTS/install.sh"
# shellcheck source=parts/redis.sh
source "$PARTS/redis.sh"
# shellcheck source=parts/kafka.sh
source "$PARTS/kafka.sh"
# shellcheck source=parts/csms.sh
source "$PARTS/csms.sh"
# shellcheck source=parts/report.sh
source "$PARTS/report.sh"

# ---------------------------------------------------------------------------------------- commands

# Expand "all" and check names; the order given is the order used.
components() {
    local order=$1 c
    shift
    for c in "${@:-all}"; do
        case $c in
            all) echo "$order" ;;
            kafka | redis | csms) echo "$c" ;;
            *) die "unknown component '$c' (kafka|redis|csms|all)" ;;
        esac
    done
}

declare -A STARTED=()
start_once() {
    [[ -n ${STARTED[$1]:-} ]] && return 0
    "start_$1"
    STARTED[$1]=1
}

cmd_start() {
    local c list
    list=$(components "redis kafka csms" "$@")
    STARTING=1 QUIET_SKIPS=1
    for c in $list; do start_once "$c"; done
    [[ " $list " == *" csms "* ]] && cmd_endpoints
    return 0
}

cmd_stop() {
    local c list all=0
    list=$(components "csms kafka redis" "$@")
    for c in "${@:-all}"; do [[ $c == all ]] && all=1; done
    for c in $list; do stop_one "$c"; done
    ((all)) && sweep_leftovers
    return 0
}

cmd_wait() {
    local c pid list
    list=$(components "redis kafka csms" "$@")
    for c in $list; do
        pid=$(managed_pid "$c") || pid=""
        "wait_$c" "$pid"
        say "$c: healthy"
    done
}

cmd_wipe() {
    cmd_stop all
    rm -rf -- "$STATE_DIR"
    say "wiped $STATE_DIR"
}

usage() { sed -n '3,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
    local cmd=${1:-help}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        install)
            take_lock
            cmd_install "$@"
            ;;
        start)
            take_lock
            cmd_start "$@"
            ;;
        stop)
            take_lock
            cmd_stop "$@"
            ;;
        wait) cmd_wait "$@" ;;
        status) cmd_status ;;
        endpoints) cmd_endpoints ;;
        wipe)
            take_lock
            cmd_wipe
            ;;
        help | -h | --help) usage ;;
        *)
            usage >&2
            die "unknown command '$cmd'"
            ;;
    esac
}

main "$@"
