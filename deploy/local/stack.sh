#!/usr/bin/env bash
# The local CSMS stack, nothing mocked: Apache Kafka (KRaft, one combined broker + controller, jars
# from Maven Central), Redis (the OS package) and the CSMS services (`csms up`).
#
#   stack.sh install [python|redis|kafka|k8s ...] default: the first three; each skipped when done
#                                                (k8s: kustomize, csms-crd-check, nginx: the k8s tests)
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

# ---------------------------------------------------------------------------------------- helpers

say() { printf '[stack] %s\n' "$*"; }
# "already done" notes of the install steps; silent when a start runs them as prerequisites.
QUIET_SKIPS=0
skip_note() { ((QUIET_SKIPS)) || say "$@"; }
warn() { printf '[stack] warning: %s\n' "$*" >&2; }
die() {
    printf '[stack] error: %s\n' "$*" >&2
    exit 1
}

for _port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$REDIS_PORT" "$GATEWAY_PORT" "$API_PORT" \
    "$CLICKHOUSE_HTTP_PORT"; do
    [[ $_port =~ ^[0-9]+$ ]] || die "ports must be numbers, got '$_port'"
done

# The state folder is created and, by `wipe`, deleted: refuse folders that hold anything else.
check_state_dir() {
    case $STATE_DIR in
        / | /tmp | /var | /var/tmp | /root | /home | /home/* | "$HOME") die "CSMS_LOCAL_DIR=$STATE_DIR: choose a folder of its own" ;;
    esac
    [[ $REPO_ROOT/ == "$STATE_DIR"/* ]] && die "CSMS_LOCAL_DIR=$STATE_DIR holds the repository"
    [[ $STATE_DIR == "$REPO_ROOT"/* && $STATE_DIR != "$REPO_ROOT"/.* ]] &&
        die "CSMS_LOCAL_DIR=$STATE_DIR is inside the repository: use a dot folder such as .local"
    return 0
}

# Serialise start/stop/install of one state folder (two `make test` at once would race on ports).
# Every launched service gets `9>&-` so it does not keep holding the lock.
take_lock() {
    check_state_dir
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    if command -v flock >/dev/null; then
        exec 9>"$RUN_DIR/stack.lock"
        flock 9
    fi
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) for: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* with your package manager"
    local log="$LOG_DIR/install.log"
    say "apt-get install $* (log: $log)"
    if ((APT_UPDATED == 0)); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 ||
            { tail -n 20 "$log" >&2; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get install $* failed"; }
}

# A live process, not a zombie.
alive() {
    [[ -n ${1:-} && -e /proc/$1 ]] || return 1
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# Started by this script for this state folder? (Also rules out a pid reused by another program.)
# Redis overwrites its environment with its process title, so it is known by its working folder.
is_ours() {
    local env cwd comm
    env=$(tr '\0' '\n' 2>/dev/null <"/proc/$1/environ") || return 1
    grep -Fxq -- "$OWNER_VAR=$STATE_DIR" <<<"$env" && return 0
    cwd=$(readlink "/proc/$1/cwd" 2>/dev/null) || return 1
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    [[ $cwd == "$REDIS_DIR" && $comm == redis-server ]]
}

# Pid of a running managed component. A stale pid file is removed, unless the dead leader's
# children still run: `stop` needs it to end them.
managed_pid() {
    local file="$RUN_DIR/$1.pid" pid
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    if [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && is_ours "$pid"; then
        echo "$pid"
        return 0
    fi
    if ! [[ $pid =~ ^[0-9]+$ ]] || ! group_is_ours "$pid"; then rm -f "$file"; fi
    return 1
}

# A process of ours that holds the port although its pid file is gone: take it back.
# The pid kept is the process group leader, the one every start here leaves in the pid file.
adopt() {
    local name=$1 port=$2 pid
    pid=$(port_pid "$port")
    [[ -n $pid ]] || return 1
    pid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ') || return 1
    [[ -n $pid ]] && alive "$pid" && is_ours "$pid" || return 1
    echo "$pid" >"$RUN_DIR/$name.pid"
    say "$name: found running without its pid file (pid $pid): adopted"
}

# Pid listening on a TCP port (empty when none, or when the owner is not visible to us).
port_pid() {
    local out
    out=$(ss -ltnpH "sport = :$1" 2>/dev/null) || true
    [[ $out =~ pid=([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
    return 0
}

port_busy() {
    local out
    if command -v ss >/dev/null; then
        out=$(ss -ltnH "sport = :$1" 2>/dev/null) || true
        [[ -n $out ]]
    else
        port_open "$1"
    fi
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

describe_pid() {
    local pid=${1:-}
    [[ -n $pid ]] || { echo "an unknown process"; return 0; }
    local cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || cmd="?"
    cmd=${cmd%"${cmd##*[! ]}"} # redis pads its title with spaces
    echo "pid $pid (${cmd:0:80})"
}

# Signal a process and its process group (everything here is started as a group leader, and the
# group outlives a leader that died first).
signal_group() {
    kill "-$1" -- "-$2" 2>/dev/null || kill "-$1" "$2" 2>/dev/null || true
}

# Live members of a process group.
group_pids() {
    local out
    out=$(ps -eo pid=,pgid=,stat= 2>/dev/null) || true
    awk -v g="$1" '$2 == g && $3 !~ /^Z/ {print $1}' <<<"$out"
}

group_alive() { [[ -n $(group_pids "$1") ]]; }

# Does the group still hold a process of ours (its leader may be gone)?
group_is_ours() {
    local pid
    for pid in $(group_pids "$1"); do
        is_ours "$pid" && return 0
    done
    return 1
}

# Start a command in the background in its own session (so it outlives the terminal and a group
# signal reaches its children), logging to a file; its pid lands in $RUN_DIR/<name>.pid.
launch() {
    local name=$1 log=$2
    shift 2
    local pidfile="$RUN_DIR/$name.pid"
    rm -f "$pidfile"
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
    env "$OWNER_VAR=$STATE_DIR" setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
        </dev/null >>"$log" 2>&1 9>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $pidfile ]] && return 0
        sleep 0.1
    done
    die "$name did not start (see $log)"
}

STARTING=0
declare -A LOG_OFFSET=()

# Remember where the logs end before a launch, so a failure shows this start's lines only.
mark_logs() {
    local log
    for log in "$@"; do LOG_OFFSET[$log]=$(stat -c %s "$log" 2>/dev/null || echo 0); done
}

# A start that failed: leave nothing half-up, say where to look.
fail_start() {
    local name=$1 msg=$2
    shift 2
    printf '[stack] error: %s %s\n' "$name" "$msg" >&2
    local log lines
    for log in "$@"; do
        [[ -s $log ]] || continue
        lines=$(tail -c "+$((${LOG_OFFSET[$log]:-0} + 1))" "$log" | tail -n 25)
        [[ -n $lines ]] || continue
        printf '[stack] --- %s (last lines) ---\n%s\n' "$log" "$lines" >&2
    done
    if ((STARTING)); then
        stop_one "$name" >&2 || true # leave nothing half-up
        die "$name failed to start; full logs in $LOG_DIR"
    fi
    die "$name is not healthy; logs in $LOG_DIR"
}

# Stop one managed component: SIGTERM to its group, then SIGKILL after the grace period.
stop_one() {
    local name=$1 grace pid
    case $name in
        kafka) grace=$KAFKA_STOP_TIMEOUT ;;
        redis) grace=$REDIS_STOP_TIMEOUT ;;
        csms) grace=$CSMS_STOP_TIMEOUT ;;
    esac
    local recorded
    recorded=$(cat "$RUN_DIR/$name.pid" 2>/dev/null) || recorded=""
    if ! pid=$(managed_pid "$name"); then
        # The leader is gone, but children of its group may still run.
        if [[ $recorded =~ ^[0-9]+$ ]] && group_is_ours "$recorded"; then
            pid=$recorded
        else
            say "$name: not running"
            return 0
        fi
    fi
    say "$name: stopping (pid $pid)"
    signal_group TERM "$pid"
    local deadline=$((SECONDS + grace))
    while group_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if group_alive "$pid"; then
        warn "$name did not stop within ${grace}s: killing it"
        signal_group KILL "$pid"
        sleep 0.5
    fi
    rm -f "$RUN_DIR/$name.pid"
    say "$name: stopped"
}

# Every live process started for this state folder, found by its environment.
our_pids() {
    local dir pid
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if alive "$pid" && is_ours "$pid"; then echo "$pid"; fi
    done
    return 0
}

# After `stop all`: nothing of this state folder may remain, whatever happened to the pid files.
sweep_leftovers() {
    local pid left=()
    for pid in $(our_pids); do
        warn "left behind: $(describe_pid "$pid"): terminating it"
        kill -TERM "$pid" 2>/dev/null || true
        left+=("$pid")
    done
    if ((${#left[@]})); then
        local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
        while [[ -n $(our_pids) ]] && ((SECONDS < deadline)); do sleep 0.5; done
        for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    local port owner
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$REDIS_PORT" "$GATEWAY_PORT" "$API_PORT" \
        "$CLICKHOUSE_HTTP_PORT"; do
        port_busy "$port" || continue
        owner=$(port_pid "$port")
        say "port $port is still in use by $(describe_pid "$owner"), not started from $STATE_DIR: left alone"
    done
    return 0
}

http_ok() {
    if command -v curl >/dev/null; then
        curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null
    else
        python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" \
            >/dev/null 2>&1
    fi
}

# ---------------------------------------------------------------------------------------- install

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }

install_python() {
    if [[ ! -x $PY ]] || ! python_ok "$PY"; then
        local candidate interp=""
        for candidate in ${CSMS_PYTHON:-} python3.11 python3; do
            if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
                interp=$candidate
                break
            fi
        done
        [[ -n $interp ]] || die "Python 3.11 is required (set CSMS_PYTHON to its path)"
        say "python: creating $VENV with $(command -v "$interp")"
        "$interp" -m venv --clear "$VENV"
    fi
    # Re-install only when the declared dependencies changed.
    local stamp="$VENV/.csms-installed"
    if [[ -f $stamp && ! $REPO_ROOT/pyproject.toml -nt $stamp ]]; then
        skip_note "python: dependencies up to date"
        return 0
    fi
    say "python: pip install -e '.[dev]'"
    (cd "$REPO_ROOT" && "$PY" -m pip install -q --disable-pip-version-check -e '.[dev]') ||
        die "pip install failed"
    touch "$stamp"
}

install_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
        skip_note "redis: $(command -v redis-server) present"
        return 0
    fi
    apt_install redis-server
    command -v redis-server >/dev/null || die "redis-server still not on PATH after installing it"
}

java_major() {
    local props
    props=$("$JAVA" -XshowSettings:properties -version 2>&1) || true
    awk -F' = ' '/java.specification.version/ {sub(/^1\./, "", $2); print $2}' <<<"$props"
}

install_java() {
    if ! command -v "$JAVA" >/dev/null; then
        [[ -z ${JAVA_HOME:-} ]] || die "JAVA_HOME=$JAVA_HOME has no bin/java"
        apt_install openjdk-17-jre-headless
    fi
    local major
    major=$(java_major)
    if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
        die "Kafka 4 needs Java 17 or newer; $JAVA reports '${major:-nothing}' (set JAVA_HOME)"
    fi
}

install_kafka() {
    install_java
    local pom="$HERE/kafka/pom.xml" stamp="$KAFKA_LIBS/.complete"
    if [[ -f $stamp && ! $pom -nt $stamp ]]; then
        skip_note "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars present in $KAFKA_LIBS"
        return 0
    fi
    command -v mvn >/dev/null || apt_install maven
    local tmp="$KAFKA_DIR/libs.partial" log="$LOG_DIR/install.log"
    say "kafka: fetching the broker jars with Maven (log: $log)"
    mkdir -p "$KAFKA_DIR"
    rm -rf "$tmp"
    mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" </dev/null >>"$log" 2>&1 ||
        { tail -n 30 "$log" >&2; die "Maven could not fetch the Kafka jars"; }
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    touch "$stamp"
    say "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1)"
}

install_kustomize() {
    # `kustomize version` says "(devel)" when built by go install: a stamp names the version.
    local bin="$TOOLS_BIN/kustomize" stamp="$TOOLS_BIN/.kustomize-$KUSTOMIZE_VERSION"
    if [[ -x $bin && -f $stamp ]]; then
        skip_note "k8s: kustomize $KUSTOMIZE_VERSION present"
        return 0
    fi
    [[ -x /usr/local/go/bin/go ]] && PATH="/usr/local/go/bin:$PATH" # the official tarball's place
    command -v go >/dev/null || die "Go is needed to build kustomize (install golang)"
    say "k8s: building kustomize $KUSTOMIZE_VERSION with Go (about a minute)"
    mkdir -p "$TOOLS_BIN" "$LOG_DIR"
    GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod go install \
        "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >>"$LOG_DIR/install.log" 2>&1 ||
        { tail -n 30 "$LOG_DIR/install.log" >&2; die "could not build kustomize"; }
    touch "$stamp"
}

install_schema_check() {
    local src="$REPO_ROOT/k8s/schema-check" bin="$TOOLS_BIN/csms-crd-check"
    if [[ -x $bin && -z $(find "$src/Cargo.toml" "$src/Cargo.lock" "$src/src" -newer "$bin") ]]; then
        skip_note "k8s: csms-crd-check up to date"
        return 0
    fi
    [[ -d $HOME/.cargo/bin ]] && PATH="$HOME/.cargo/bin:$PATH"
    command -v cargo >/dev/null || die "Rust's cargo is needed to build k8s/schema-check (rustup)"
    say "k8s: building csms-crd-check (the operators' schemas; a few minutes the first time)"
    mkdir -p "$TOOLS_BIN" "$LOG_DIR"
    cargo build --locked --quiet --manifest-path "$src/Cargo.toml" \
        --target-dir "$STATE_DIR/tools/schema-check-target" >>"$LOG_DIR/install.log" 2>&1 ||
        { tail -n 30 "$LOG_DIR/install.log" >&2; die "could not build k8s/schema-check"; }
    cp "$STATE_DIR/tools/schema-check-target/debug/csms-crd-check" "$bin"
}

# The edge proxy of the Kubernetes design (TLS, client certificates), for tests/stack/test_tls_edge.py.
install_nginx() {
    if command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]]; then
        skip_note "k8s: nginx present"
        return 0
    fi
    apt_install nginx
    # The package may start its own nginx on :80 where services may start: the tests run theirs.
    as_root nginx -s quit >/dev/null 2>&1 || true
}

install_k8s() {
    install_kustomize
    install_schema_check
    install_nginx
}

cmd_install() {
    local what
    for what in "${@:-all}"; do
        case $what in
            python) install_python ;;
            redis) install_redis ;;
            kafka) install_kafka ;;
            k8s) install_k8s ;;
            all)
                install_python
                install_redis
                install_kafka
                ;;
            *) die "install: unknown component '$what' (python|redis|kafka|k8s|all)" ;;
        esac
    done
}

# ------------------------------------------------------------------------------------------ redis

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

# ------------------------------------------------------------------------------------------ kafka

# Health = a metadata round trip that lists a registered broker (an open port is not enough).
kafka_probe() {
    [[ -x $PY ]] || return 1
    local out=/dev/null
    [[ -d $LOG_DIR ]] && out="$LOG_DIR/kafka-probe.log" # why the last probe failed
    timeout 20 "$PY" - "127.0.0.1:$KAFKA_PORT" >"$out" 2>&1 <<'PYTHON'
import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient


async def main() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise SystemExit(1)
        await admin.list_topics()
    finally:
        await admin.close()


asyncio.run(main())
PYTHON
}

wait_kafka() {
    local pid=${1:-} deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    until port_open "$KAFKA_PORT" && kafka_probe; do
        if [[ -n $pid ]] && ! alive "$pid"; then
            fail_start kafka "exited during start-up" "$LOG_DIR/kafka.out" "$LOG_DIR/kafka.log"
        fi
        ((SECONDS < deadline)) ||
            fail_start kafka "was not healthy within ${KAFKA_START_TIMEOUT}s" \
                "$LOG_DIR/kafka.out" "$LOG_DIR/kafka.log" "$LOG_DIR/kafka-probe.log"
        sleep 0.5
    done
}

write_kafka_config() {
    cat >"$KAFKA_DIR/server.properties" <<EOF
# Generated by deploy/local/stack.sh at every start: edit the script, not this file.
# Single node, KRaft: one process is both broker and controller, with a static quorum of itself.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=4
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# consumers of a fresh group start at once instead of waiting 3 s for more members
group.initial.rebalance.delay.ms=0
EOF
}

# The JVM command line shared by the storage tool and the broker.
kafka_jvm() {
    local heap
    read -r -a heap <<<"$KAFKA_HEAP_OPTS"
    KAFKA_JVM=("$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true -Dkafka.logs.dir="$LOG_DIR"
        -Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -cp "$KAFKA_LIBS/*")
}

# Format the storage once; the cluster id is kept beside it for reference.
format_kafka() {
    [[ -f $KAFKA_DATA/meta.properties ]] && return 0
    local log="$LOG_DIR/install.log" id
    id=$("${KAFKA_JVM[@]}" kafka.tools.StorageTool random-uuid 2>>"$log" | tail -n 1) ||
        die "kafka: StorageTool random-uuid failed (see $log)"
    [[ $id =~ ^[A-Za-z0-9_-]{22}$ ]] || die "kafka: unexpected cluster id '$id' (see $log)"
    mkdir -p "$KAFKA_DATA"
    "${KAFKA_JVM[@]}" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" \
        >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "kafka: storage format failed"; }
    echo "$id" >"$KAFKA_DIR/cluster.id"
    say "kafka: storage formatted (cluster id $id)"
}

start_kafka() {
    local pid
    if pid=$(managed_pid kafka) || { adopt kafka "$KAFKA_PORT" && pid=$(managed_pid kafka); }; then
        wait_kafka "$pid"
        say "kafka: already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
        return 0
    fi
    install_python # the health probe runs on aiokafka
    if port_busy "$KAFKA_PORT"; then
        kafka_probe ||
            die "port $KAFKA_PORT is taken by $(describe_pid "$(port_pid "$KAFKA_PORT")"), which does not answer as Kafka: set KAFKA_PORT"
        say "kafka: using the Kafka already on 127.0.0.1:$KAFKA_PORT ($(describe_pid "$(port_pid "$KAFKA_PORT")"); not managed here, stop it yourself)"
        return 0
    fi
    port_busy "$KAFKA_CONTROLLER_PORT" &&
        die "port $KAFKA_CONTROLLER_PORT (controller) is taken by $(describe_pid "$(port_pid "$KAFKA_CONTROLLER_PORT")"): set KAFKA_CONTROLLER_PORT"
    install_kafka
    mkdir -p "$KAFKA_DATA"
    kafka_jvm
    write_kafka_config
    format_kafka
    mark_logs "$LOG_DIR/kafka.out" "$LOG_DIR/kafka.log"
    launch kafka "$LOG_DIR/kafka.out" "${KAFKA_JVM[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
    pid=$(<"$RUN_DIR/kafka.pid")
    say "kafka: starting (pid $pid), waiting for a metadata answer on 127.0.0.1:$KAFKA_PORT"
    wait_kafka "$pid"
    say "kafka: started (pid $pid) on 127.0.0.1:$KAFKA_PORT"
}

# ------------------------------------------------------------------------------------------- csms

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

# ---------------------------------------------------------------------------------------- reports

api_token_line() {
    if [[ -n ${CSMS_API_TOKEN:-} ]]; then
        echo '(the value of CSMS_API_TOKEN)'
    elif [[ -r $STATE_DIR/api-token ]]; then
        cat -- "$STATE_DIR/api-token"
    else
        echo "(written to $STATE_DIR/api-token when the API starts)"
    fi
}

cmd_endpoints() {
    cat <<EOF

  CSMS local stack                 (state: $STATE_DIR)
  ---------------------------------------------------------------------------------------
  OCPP gateway (WebSocket)          ws://127.0.0.1:$GATEWAY_PORT/ocpp/{station_id}
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

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

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
