#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The CSMS from its production image: the dev overlay's four Deployments played by podman.
#   bash deploy/podman/stack.sh up       (make up-containers)
#   bash deploy/podman/stack.sh down     (make down-containers)
#   bash deploy/podman/stack.sh status
# Kafka and Redis run on the host as in `make up` (deploy/local/stack.sh); ClickHouse is the
# embedded engine served over HTTP by a host process (`csms analytics` with chDB, the server the
# analytics container writes to, as a ClickHouse server in a cluster). The pods share the host's
# network. Settings (environment):
#   CONTAINERS_PORT_BASE   gateway, api, analytics, processors on N … N+3 (default: the
#                          manifests' 9000, 8080, 8123, 6066)
#   CLICKHOUSE_SERVER_PORT the host's ClickHouse server (default 8124)
#   KAFKA_BOOTSTRAP, REDIS_URL, CSMS_TOPIC_PREFIX  as for the services
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

PY="$REPO_ROOT/.venv/bin/python"
PLAY="$PODMAN_STATE/csms-dev.yaml"
SECRET="$PODMAN_STATE/csms-secrets.json"
CH_DIR="$PODMAN_STATE/clickhouse"
CH_PID="$PODMAN_STATE/clickhouse-server.pid"
CH_PORT=${CLICKHOUSE_SERVER_PORT:-8124}
PREFIX=${CSMS_TOPIC_PREFIX:-}

# The Secret's value of `key` (the data map podman holds, base64).
secret_value() {
    "$PY" -c 'import base64, json, sys; print(base64.b64decode(json.load(open(sys.argv[1]))[sys.argv[2]]).decode())' \
        "$SECRET" "$1"
}

start_clickhouse() {
    if [ -f "$CH_PID" ] && kill -0 "$(cat "$CH_PID")" 2>/dev/null; then return 0; fi
    if curl -sf "http://127.0.0.1:$CH_PORT/ping" >/dev/null; then
        log "port $CH_PORT answers already: stop what listens there or set CLICKHOUSE_SERVER_PORT"
        return 1
    fi
    mkdir -p "$CH_DIR"
    # The Secret's user, as the ClickHouseInstallation declares it (password from the Secret).
    secret_value CLICKHOUSE_PASSWORD | "$REPO_ROOT/.venv/bin/csms" analytics-user add --no-readonly \
        csms >"$CH_DIR/users.json"
    log "ClickHouse server (embedded engine over HTTP) on 127.0.0.1:$CH_PORT"
    # Its own topic prefix and group: it serves the engine and consumes nothing of the CSMS's.
    CSMS_LOCAL_DIR="$CH_DIR" CLICKHOUSE_URL="chdb://$CH_DIR/data" CLICKHOUSE_HTTP_HOST=127.0.0.1 \
        CLICKHOUSE_HTTP_PORT="$CH_PORT" ANALYTICS_HTTP_USERS="$CH_DIR/users.json" CSMS_LOG_LEVEL=WARNING \
        CSMS_TOPIC_PREFIX="${PREFIX}clickhouse-server." ANALYTICS_GROUP_ID="csms-clickhouse-server" \
        setsid "$REPO_ROOT/.venv/bin/csms" analytics >"$PODMAN_STATE/clickhouse-server.log" 2>&1 &
    echo $! >"$CH_PID"
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$CH_PORT/ping" >/dev/null && return 0
        kill -0 "$(cat "$CH_PID")" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$PODMAN_STATE/clickhouse-server.log" >&2
    log "the ClickHouse server did not start"
    return 1
}

stop_clickhouse() {
    [ -f "$CH_PID" ] || return 0
    local pid
    pid=$(cat "$CH_PID")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$CH_PID"
}

up() {
    ensure_podman
    podman image exists "$IMAGE" || bash "$PODMAN_DIR/image.sh" build
    bash "$REPO_ROOT/deploy/local/stack.sh" install kustomize >/dev/null
    # The host's Kafka and Redis (already running is fine), unless pointed at others.
    case "${KAFKA_BOOTSTRAP:-127.0.0.1:9092}" in
        127.0.0.1:9092 | localhost:9092) bash "$REPO_ROOT/deploy/local/stack.sh" start kafka redis >/dev/null ;;
    esac
    mkdir -p "$PODMAN_STATE"
    "$PY" "$PODMAN_DIR/kube.py" --out "$PLAY" --secret-out "$SECRET" --image "$IMAGE" \
        --kafka "${KAFKA_BOOTSTRAP:-127.0.0.1:9092}" \
        --redis-url "${REDIS_URL:-redis://127.0.0.1:6379/0}" \
        --clickhouse "127.0.0.1:$CH_PORT" --port-base "${CONTAINERS_PORT_BASE:-0}" \
        --topic-prefix "$PREFIX" 2>"$PODMAN_STATE/left-out.txt"
    start_clickhouse
    podman secret rm csms-secrets >/dev/null 2>&1 || true
    podman secret create csms-secrets "$SECRET" >/dev/null
    log "podman kube play $PLAY"
    podman kube play --replace "$PLAY" >"$PODMAN_STATE/play.log" 2>&1 \
        || { cat "$PODMAN_STATE/play.log" >&2; return 1; }
    "$PY" "$PODMAN_DIR/probes.py" "$PLAY" wait | tee "$PODMAN_STATE/ready.json"
    status
}

down() {
    if [ -f "$PLAY" ]; then podman kube down "$PLAY" >/dev/null 2>&1 || true; fi
    podman secret rm csms-secrets >/dev/null 2>&1 || true
    stop_clickhouse
    log "containers stopped (Kafka and Redis: make down)"
}

status() {
    podman ps -a --filter name='^csms-' --format '{{.Names}}  {{.Status}}'
    local base=${CONTAINERS_PORT_BASE:-0}
    if [ "$base" = 0 ]; then
        echo "gateway ws://127.0.0.1:9000/ocpp/{id}  api http://127.0.0.1:8080  analytics /ping :8123  processors /metrics :6066"
    else
        echo "gateway ws://127.0.0.1:$base/ocpp/{id}  api http://127.0.0.1:$((base + 1))  analytics :$((base + 2))  processors :$((base + 3))"
    fi
    echo "ClickHouse http://127.0.0.1:$CH_PORT (user csms, password in the Secret)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
