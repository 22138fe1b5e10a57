# shellcheck shell=bash
# stack.sh status and endpoints.
# Sourced by deploy/local/stack.sh, which defines the settings these use.

api_token_line() {
    if [[ -n ${CSMS_API_TOKEN:-} ]]; then
        echo '(the value of CSMS_API_TOKEN)'
    elif [[ -r $STATE_DIR/api-token ]]; then
        cat -- "$STATE_DIR/api-token"
    else
        echo "(written to $STATE_DIR/api-token when the API starts)"
    fi
}

# Gateway processes `csms up` runs on the one port (services/cli.py: GATEWAY_PROCESSES, 0 = one
# per usable core, as nproc counts them).
gateway_processes() {
    local n=${GATEWAY_PROCESSES:-0}
    (( n > 0 )) || n=$(nproc)
    echo "$n"
}

cmd_endpoints() {
    cat <<EOF

  CSMS local stack                 (state: $STATE_DIR)
  ---------------------------------------------------------------------------------------
  OCPP gateway (WebSocket)          ws://127.0.0.1:$GATEWAY_PORT/ocpp/{station_id}   ($(gateway_processes) processes, one port)
  operator API (REST)               http://127.0.0.1:$API_PORT     docs: http://127.0.0.1:$API_PORT/docs
  API admin token (Bearer)          $(api_token_line)
  ClickHouse HTTP (chDB)            http://127.0.0.1:$CLICKHOUSE_HTTP_PORT
  Kafka bootstrap                   $KAFKA_BOOTSTRAP
  Redis                             $REDIS_URL
  metrics (Prometheus)              http://127.0.0.1:$GATEWAY_PORT/metrics (gateway)
                                    http://127.0.0.1:$API_PORT/metrics (API)
  logs                              $LOG_DIR

EOF
}

# A port held without a pid file: ours (a start adopts it) or someone else's (used as it is).
owner_state() {
    if [[ -n $1 ]] && is_ours "$1"; then echo "no-pidfile"; else echo "external"; fi
}

status_line() { printf '  %-7s %-10s %-8s %s\n' "$@"; }

cmd_status() {
    local pid state
    echo "state folder: $STATE_DIR"
    status_line COMPONENT STATE PID WHERE
    if pid=$(managed_pid kafka); then
        kafka_probe && state=running || state=unhealthy
    elif port_busy "$KAFKA_PORT"; then
        pid=$(port_pid "$KAFKA_PORT") state=$(owner_state "$(port_pid "$KAFKA_PORT")")
    else
        pid="" state=stopped
    fi
    status_line kafka "$state" "${pid:--}" "127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
    if pid=$(managed_pid redis); then
        redis_ping && state=running || state=unhealthy
    elif port_busy "$REDIS_PORT"; then
        pid=$(port_pid "$REDIS_PORT") state=$(owner_state "$(port_pid "$REDIS_PORT")")
    else
        pid="" state=stopped
    fi
    status_line redis "$state" "${pid:--}" "127.0.0.1:$REDIS_PORT"
    if pid=$(managed_pid csms); then
        csms_healthy && state=running || state=unhealthy
    else
        pid="" state=stopped
    fi
    status_line csms "$state" "${pid:--}" \
        "gateway :$GATEWAY_PORT, API :$API_PORT, ClickHouse HTTP :$CLICKHOUSE_HTTP_PORT"
    # `csms up` restarts a service that dies; its children's state (and the last lines of one
    # that keeps crashing) come from the file it keeps.
    if [[ -n $pid && -f $RUN_DIR/csms-children.json && -x $PY ]]; then
        "$PY" -m services.supervisor "$RUN_DIR/csms-children.json" || true
    fi
}
