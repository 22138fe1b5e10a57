# shellcheck shell=bash
# stack.sh install: the Python virtualenv, redis-server, the Kafka jars and Java, nginx (the TLS
# edge of the stack tests) and, only for `make k8s`, kustomize and csms-crd-check (Go and Rust).
# Sourced by deploy/local/stack.sh, which defines the settings these use.

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

# The container engine of `make image` / `make up-containers` (deploy/podman): Debian's podman
# with runc (crun refuses this machine's hybrid cgroups) and debootstrap for the local base image.
install_podman() {
    if command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null; then
        skip_note "podman: $(command -v podman) present"
        return 0
    fi
    apt_install podman runc debootstrap
}

install_k8s() {
    install_kustomize
    install_schema_check
}

cmd_install() {
    local what
    for what in "${@:-all}"; do
        case $what in
            python) install_python ;;
            redis) install_redis ;;
            kafka) install_kafka ;;
            k8s) install_k8s ;;
            kustomize) install_kustomize ;;
            nginx) install_nginx ;;
            podman) install_podman ;;
            all)
                install_python
                install_redis
                install_kafka
                ;;
            *) die "install: unknown component '$what' (python|redis|kafka|k8s|kustomize|nginx|podman|all)" ;;
        esac
    done
}
