# CSMS developer entry points. `make` lists them; deploy/local/stack.sh does the work.
# Ports and the state folder come from the environment or the command line, e.g.
#   make up KAFKA_PORT=29092 REDIS_PORT=26379 CSMS_LOCAL_DIR=/tmp/csms
# PYTEST_ARGS and BENCH_ARGS pass options through: make test PYTEST_ARGS="-k gateway -x"

SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK := bash deploy/local/stack.sh
VENV  := .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=
# `make chaos`: rounds of every fault, chargers under load.
CHAOS_ROUNDS ?= 3
CHAOS_FLEET ?= 40
# `make fuzz`: examples per property, and seconds per coverage-guided target.
FUZZ_EXAMPLES ?= 20000
FUZZ_SECONDS ?= 300
# `make soak`: hours of realistic load, samples every minute, charts in .local/soak.
HOURS ?= 1

# Tests and benchmarks talk to the Kafka and Redis that stack.sh starts.
KAFKA_PORT ?= 9092
REDIS_PORT ?= 6379
export KAFKA_PORT REDIS_PORT
export KAFKA_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)
export REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0

# pytest exits 5 when it collected no test: a test target that ran nothing has failed.
define pytest
	@$(VENV)/bin/pytest $(1) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no test" >&2; exit 1; fi; \
	exit $$rc
endef

.PHONY: help install venv up down status wipe test test-unit k8s compat image-check image up-containers down-containers lint fmt bench chaos fuzz soak

help: ## list the targets
	@echo "usage: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Python venv + dependencies, redis-server, Kafka jars (each skipped when present)
	@$(STACK) install

venv:
	@$(STACK) install python

up: ## install, start Kafka, Redis and the CSMS services, print the endpoints
	@start=$$EPOCHREALTIME; \
	$(STACK) install && $(STACK) start all && \
	awk -v s="$$start" -v e="$$EPOCHREALTIME" 'BEGIN {printf "make up: done in %.1f s\n", e - s}'

down: ## stop everything `make up` started (no process is left behind)
	@$(STACK) stop all

status: ## what runs, with pids and ports
	@$(STACK) status

wipe: ## stop everything and delete the state folder (data, logs, jars)
	@$(STACK) wipe

# The suite: lint, types and layering first (a red lint is a red build), then everything that
# needs no Go or Rust toolchain. The Kubernetes checks and the Grafana Go client are `make k8s`
# and `make compat` (CI runs all three: .ci/run).
test: install lint ## lint + types + layering, start Kafka + Redis, run the suite
	@$(STACK) install nginx
	@bash deploy/podman/image.sh background
	@$(STACK) start kafka redis
	$(call pytest,--ignore=tests/k8s -m "not compat")

k8s: install ## validate every k8s/ overlay offline; build the image, play the dev overlay with podman
	@$(STACK) install k8s
	@$(STACK) start kafka redis
	@bash deploy/podman/image.sh build
	$(call pytest,tests/k8s)

compat: install ## Grafana's ClickHouse Go client against the local endpoint (builds it with Go)
	@$(STACK) start kafka redis
	$(call pytest,-m compat)

image-check: ## the image's runtime without Docker: locked install, pip check, imports, size
	@bash deploy/docker/runtime_check.sh

image: ## build the production image with podman (local Debian base, locked wheels; cached)
	@bash deploy/podman/image.sh build

up-containers: install ## the CSMS from its image: the dev overlay's pods (podman kube play)
	@bash deploy/podman/stack.sh up

down-containers: ## stop what `make up-containers` started (Kafka and Redis: make down)
	@bash deploy/podman/stack.sh down

chaos: install ## faults under load (kill -9, SIGSTOP, Kafka/Redis restarts), checks, .local/chaos.json
	@mkdir -p .local
	$(VENV)/bin/python -m loadtests.faults --rounds $(CHAOS_ROUNDS) --fleet $(CHAOS_FLEET) --json .local/chaos.json

soak: install ## HOURS of load; memory, files, lag, latency per minute; charts, .local/soak/soak.json
	@mkdir -p .local/soak
	$(VENV)/bin/python -m loadtests.soak --hours $(HOURS) --json .local/soak/soak.json

fuzz: venv ## long fuzzing: tests/fuzz with FUZZ_EXAMPLES, each atheris target FUZZ_SECONDS
	@$(STACK) start redis
	@FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) bash tests/fuzz/run.sh $(FUZZ_SECONDS)

test-unit: venv ## unit tests only, no services
	$(call pytest,tests/unit)

lint: venv ## ruff, ruff format --check, mypy --strict, import contracts, shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	git ls-files -z '*.sh' .ci/run | xargs -0 $(VENV)/bin/shellcheck -x

fmt: venv ## format the code and apply ruff's safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install ## start Kafka + Redis, run the full benchmarks, write them into docs/benchmarks.md
	@$(STACK) start kafka redis
	$(VENV)/bin/python -m loadtests.bench --scale full --write-docs docs/benchmarks.md $(BENCH_ARGS)
