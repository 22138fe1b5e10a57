# shellcheck shell=bash
# Helpers of stack.sh: messages, the lock, root and apt, and the processes it starts (pid
# files, process groups, ownership by CSMS_STACK_STATE, launch, stop, leftovers, health probes).
# Sourced by deploy/local/stack.sh, which defines the settings these use.

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
