"""A gateway as its own process for stack tests: started with the environment a test gives it
(its own port, Redis DB, topic prefix), and healthy before the test goes on."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import redis as redis_sync

from csms.security.passwords import hash_password
from loadtests.processes import ServiceProcess, stop_all

GATEWAY_CODE = (
    "from csms.settings import Settings; from services.gateway.main import run; "
    "run(Settings.from_env())"
)


def gateway_env(
    gateway_id: str, port: int, *, redis_url: str, kafka: str, prefix: str, **settings: str
) -> dict[str, str]:
    """A test gateway's environment: its id and port, its Redis DB, Kafka and topic prefix, and
    any further settings by name (GATEWAY_ADMISSION="closed", …)."""
    return {
        "GATEWAY_PORT": str(port),
        "GATEWAY_ID": gateway_id,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP": kafka,
        "CSMS_TOPIC_PREFIX": prefix,
        **settings,
    }


def gateway_process(env: Mapping[str, str], log: Path) -> ServiceProcess:
    """`csms gateway` with `env` over this process's environment, output into `log`, healthy once
    /health answers on GATEWAY_PORT (not started yet)."""
    health = f"http://127.0.0.1:{env['GATEWAY_PORT']}/health"
    return ServiceProcess([sys.executable, "-c", GATEWAY_CODE], os.environ | dict(env), log, health)


def launch_gateway(env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The gateway of `gateway_process`, started; its health not waited for."""
    return gateway_process(env, log).start().popen


def start_gateway(env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Launch, then wait (≤ 60 s) until its /health answers on GATEWAY_PORT."""
    gateway = gateway_process(env, log).start()
    gateway.wait_healthy(60)
    return gateway.popen


def register_stations(redis_url: str, stations: Iterable[str], password: str) -> redis_sync.Redis:
    """An emptied Redis DB with `stations` Accepted and `password` set; the caller closes it."""
    return register_passwords(redis_url, dict.fromkeys(stations, password))


def register_passwords(redis_url: str, passwords: Mapping[str, str]) -> redis_sync.Redis:
    """An emptied Redis DB with each station of `passwords` Accepted and its password set."""
    client = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    for station, password in passwords.items():
        client.hset(
            f"csms:registry:{station}",
            mapping={"status": "Accepted", "password_hash": hash_password(password)},
        )
    return client


@contextlib.contextmanager
def running_gateway(
    name: str, port: int, *, redis_url: str, kafka: str, logs: Path, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """A healthy gateway `gw-<name>` on `port` with a topic prefix of its own and further
    settings by name: (process, topic prefix, log). Afterwards killed, and its Redis DB (the
    stations the test registered there) emptied."""
    prefix = f"test-{name}-{uuid.uuid4().hex[:8]}."
    log = logs / "gateway.log"
    env = gateway_env(
        f"gw-{name}", port, redis_url=redis_url, kafka=kafka, prefix=prefix, **settings
    )
    proc = start_gateway(env, log)
    try:
        yield proc, prefix, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with redis_sync.Redis.from_url(redis_url) as registry:
            registry.flushdb()


def stop_processes(*procs: subprocess.Popen[bytes], within_s: float = 60) -> None:
    """SIGTERM to all (they drain side by side), then wait; kill what outlives `within_s`."""
    stop_all([ServiceProcess.adopt(proc) for proc in procs], within_s)
