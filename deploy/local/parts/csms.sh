# shellcheck shell=bash
# stack.sh: the CSMS services (`csms up`, which supervises them).
# Sourced by deploy/local/stack.sh, which defines the settings these use.

CSMS_URLS=(
    "http://127.0.0.1:$GATEWAY_PORT/health"
    "http://127.0.0.1:$API_PORT/health"
    "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping"
)

csms_healthy() {
    local url
    for url in "${CSMS_URLS[@]}"; do
        http_ok "$url" || return 1
    done
}

wait_csms() {
    local pid=${1:-} deadline=$((SECONDS + CSMS_START_TIMEOUT))
    until csms_healthy; do
        if [[ -n $pid ]] && ! alive "$pid"; then
            fail_start csms "exited during start-up" "$LOG_DIR/csms.log"
        fi
        if ((SECONDS >= deadline)); then
            local url down=()
            for url in "${CSMS_URLS[@]}"; do http_ok "$url" || down+=("$url"); done
            fail_start csms "not healthy within ${CSMS_START_TIMEOUT}s (no answer from ${down[*]})" \
                "$LOG_DIR/csms.log"
        fi
        sleep 0.5
    done
}

start_csms() {
    start_once redis # the services need both; a no-op when this run started them already
    start_once kafka
    local pid
    if pid=$(managed_pid csms) || { adopt csms "$API_PORT" && pid=$(managed_pid csms); }; then
        wait_csms "$pid"
        say "csms: already running (pid $pid)"
        return 0
    fi
    [[ -x $VENV/bin/csms ]] || die "$VENV/bin/csms not found: run '$0 install python'"
    local port
    for port in "$GATEWAY_PORT" "$API_PORT" "$CLICKHOUSE_HTTP_PORT"; do
        port_busy "$port" && die "port $port is taken by $(describe_pid "$(port_pid "$port")")"
    done
    mkdir -p "$STATE_DIR/clickhouse"
    mark_logs "$LOG_DIR/csms.log"
    launch csms "$LOG_DIR/csms.log" "$VENV/bin/csms" up
    pid=$(<"$RUN_DIR/csms.pid")
    say "csms: starting (pid $pid), waiting for gateway, API and ClickHouse HTTP to answer"
    wait_csms "$pid"
    say "csms: started (pid $pid)"
}
