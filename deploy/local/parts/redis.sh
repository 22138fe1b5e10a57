# shellcheck shell=bash
# stack.sh: Redis, started from the OS package with AOF persistence in the state folder.
# Sourced by deploy/local/stack.sh, which defines the settings these use.

redis_ping() {
    [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

wait_redis() {
    local pid=${1:-} deadline=$((SECONDS + REDIS_START_TIMEOUT))
    until redis_ping; do
        if [[ -n $pid ]] && ! alive "$pid"; then
            fail_start redis "exited during start-up" "$LOG_DIR/redis.log"
        fi
        ((SECONDS < deadline)) ||
            fail_start redis "did not answer PING within ${REDIS_START_TIMEOUT}s" "$LOG_DIR/redis.log"
        sleep 0.1
    done
}

start_redis() {
    install_redis
    local pid
    if pid=$(managed_pid redis) || { adopt redis "$REDIS_PORT" && pid=$(managed_pid redis); }; then
        wait_redis "$pid"
        say "redis: already running (pid $pid) on 127.0.0.1:$REDIS_PORT"
        return 0
    fi
    if port_busy "$REDIS_PORT"; then
        redis_ping ||
            die "port $REDIS_PORT is taken by $(describe_pid "$(port_pid "$REDIS_PORT")"), which is not Redis: set REDIS_PORT"
        say "redis: using the Redis already on 127.0.0.1:$REDIS_PORT ($(describe_pid "$(port_pid "$REDIS_PORT")"); not managed here, stop it yourself)"
        return 0
    fi
    mkdir -p "$REDIS_DIR"
    rm -f "$RUN_DIR/redis.pid"
    mark_logs "$LOG_DIR/redis.log"
    # Redis holds read models (rebuildable from Kafka) but also state that is not: the station
    # registry and passwords, and the 1.6 transactionId counter (ids restarting at 1 after a
    # restart would collide with earlier transactions). So it persists, like a production Redis.
    env "$OWNER_VAR=$STATE_DIR" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
        --pidfile "$RUN_DIR/redis.pid" --logfile "$LOG_DIR/redis.log" --dir "$REDIS_DIR" \
        --save "" --appendonly yes --appendfsync everysec </dev/null 9>&- ||
        fail_start redis "could not be started" "$LOG_DIR/redis.log"
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $RUN_DIR/redis.pid ]] && break
        sleep 0.1
    done
    pid=$(cat "$RUN_DIR/redis.pid" 2>/dev/null) || true
    wait_redis "$pid"
    say "redis: started (pid $pid) on 127.0.0.1:$REDIS_PORT"
}
