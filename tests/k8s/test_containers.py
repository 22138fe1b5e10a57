"""The production image, built for real and run as the dev overlay's pods (`podman kube play`,
deploy/podman): security context, environment, probes, the whole event path from real 1.6 and
2.0.1 chargers to the API and ClickHouse, and the gateway's drain on SIGTERM.

`make k8s` builds the image first (deploy/podman/image.sh, cached); Kafka and Redis are the
host's (`deploy/local/stack.sh`), ClickHouse the host's server (deploy/podman/stack.sh)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import websockets

from csms.settings import LOCAL_STATE_DIR, PROJECT_ROOT
from loadtests.charger_sessions import SessionReport, session_16, session_201
from tests.stack.sink_helpers import settled

PODMAN = PROJECT_ROOT / "deploy" / "podman"
STATE = LOCAL_STATE_DIR / "podman"
PORT_BASE = 29920  # gateway, api, analytics, processors; + 4 ClickHouse, + 5 Redis
REDIS_PORT = PORT_BASE + 5  # a Redis of its own: the suite's uses all 16 databases
DEPLOYMENTS = ("csms-analytics", "csms-api", "csms-gateway", "csms-processors")


@dataclass(frozen=True)
class Containers:
    env: dict[str, str]
    ready: dict[str, Any]  # deploy/podman/probes.py's report
    secret: dict[str, str]

    gateway_url = f"ws://127.0.0.1:{PORT_BASE}/ocpp"
    api_url = f"http://127.0.0.1:{PORT_BASE + 1}"
    clickhouse_url = f"http://127.0.0.1:{PORT_BASE + 4}"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(PODMAN / "containers.conf")}
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env, check=check)


def container(deployment: str) -> str:
    return f"{deployment}-pod-0-{deployment.removeprefix('csms-')}"


def inspect(deployment: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(podman("inspect", container(deployment)).stdout)
    return data[0]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    server = subprocess.Popen(
        ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(30)


@pytest.fixture(scope="module")
def containers(redis_url: str) -> Iterator[Containers]:
    env = {
        **os.environ,
        "CONTAINERS_PORT_BASE": str(PORT_BASE),
        "CLICKHOUSE_SERVER_PORT": str(PORT_BASE + 4),
        "REDIS_URL": redis_url,
        "CSMS_TOPIC_PREFIX": f"containers-{uuid.uuid4().hex[:8]}.",
    }
    env.pop("KAFKA_BOOTSTRAP", None)  # the host's Kafka, started (or found) by stack.sh
    script = str(PODMAN / "stack.sh")
    up = subprocess.run(
        ["bash", script, "up"], check=False, capture_output=True, text=True, env=env
    )
    try:
        assert up.returncode == 0, f"stack.sh up failed:\n{up.stdout}\n{up.stderr[-4000:]}"
        ready = json.loads((STATE / "ready.json").read_text())
        secret = json.loads((STATE / "csms-secrets.json").read_text())
        plain = {key: base64.b64decode(value).decode() for key, value in secret.items()}
        yield Containers(env, ready, plain)
    finally:
        subprocess.run(["bash", script, "down"], check=False, capture_output=True, env=env)


def test_every_service_runs_with_the_manifests_security_context(containers: Containers) -> None:
    for deployment in DEPLOYMENTS:
        facts = inspect(deployment)
        host = facts["HostConfig"]
        assert facts["Config"]["User"] == "10001:10001", deployment
        assert host["ReadonlyRootfs"] is True, deployment
        assert facts["EffectiveCaps"] in (None, []), deployment  # capabilities: drop ALL
        assert "no-new-privileges" in " ".join(host["SecurityOpt"] or []), deployment
        mounts = {m["Destination"]: m for m in facts["Mounts"]}
        assert "/tmp" in mounts and mounts["/tmp"]["RW"], deployment  # the emptyDir
        name = container(deployment)
        # The root file system refuses writes; the emptyDir takes them.
        denied = podman("exec", name, "python3", "-c", "open('/opt/csms/x', 'w')", check=False)
        assert denied.returncode != 0 and "Read-only file system" in denied.stderr
        podman("exec", name, "python3", "-c", "open('/tmp/x', 'w').write('ok')")


def test_the_configmap_and_the_secret_reach_the_containers(containers: Containers) -> None:
    def env_of(deployment: str) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in inspect(deployment)["Config"]["Env"])
        return dict(pairs)

    gateway = env_of("csms-gateway")
    assert gateway["GATEWAY_DRAIN_WINDOW_S"] == "10"  # the dev overlay's ConfigMap
    assert gateway["GATEWAY_PORT"] == str(PORT_BASE)
    assert gateway["GATEWAY_ID"] == "csms-gateway-pod-0"  # fieldRef metadata.name
    assert env_of("csms-api")["CSMS_API_TOKEN"] == containers.secret["CSMS_API_TOKEN"]
    clickhouse = env_of("csms-analytics")["CLICKHOUSE_URL"]
    assert f"csms:{containers.secret['CLICKHOUSE_PASSWORD']}@" in clickhouse


def test_every_probe_of_the_manifests_answers(containers: Containers) -> None:
    assert set(containers.ready) == set(DEPLOYMENTS)
    for deployment, report in containers.ready.items():
        statuses = {kind: probe["status"] for kind, probe in report["probes"].items()}
        assert statuses == {"readinessProbe": 200, "livenessProbe": 200}, deployment


@pytest.fixture(scope="module")
async def sessions(containers: Containers) -> dict[str, SessionReport]:
    # ClickHouse keeps earlier runs' rows (the server's data lives in .local/podman).
    run = uuid.uuid4().hex[:6]
    r16, r201 = await asyncio.gather(
        session_16(containers.gateway_url, f"CTR-16-{run}"),
        session_201(containers.gateway_url, f"CTR-201-{run}"),
    )
    return {r16.station: r16, r201.station: r201}


async def test_a_16_and_a_201_charger_reach_the_api_and_clickhouse(
    containers: Containers, sessions: dict[str, SessionReport]
) -> None:
    token = containers.secret["CSMS_API_TOKEN"]
    auth = ("csms", containers.secret["CLICKHOUSE_PASSWORD"])
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=containers.api_url, headers=headers) as api,
        httpx.AsyncClient(base_url=containers.clickhouse_url, auth=auth) as clickhouse,
    ):
        for station, report in sessions.items():

            async def ended(station: str = station) -> list[tuple[str, str, float]]:
                answer = await api.get("/api/v1/transactions", params={"station_id": station})
                items = answer.json()["items"]
                return [(t["transaction_id"], t["state"], t["energy_wh"]) for t in items]

            expected = [(report.transaction_id, "ended", report.energy_wh)]
            assert await settled(ended, expected) == expected

            async def rows(station: str = station) -> int:
                query = f"SELECT count() FROM meter_values FINAL WHERE station = '{station}'"
                answer = await clickhouse.get("/", params={"query": query})
                return int(answer.text.strip() or 0)

            assert await settled(rows, report.samples) == report.samples
        station_201 = next(s for s, r in sessions.items() if r.proto == "ocpp2.0.1")
        view = (await api.get(f"/api/v1/stations/{station_201}")).json()
        assert (view["protocol"], view["vendor"]) == ("ocpp2.0.1", "VendorB")


async def test_sigterm_drains_the_gateway_within_its_grace_period(
    containers: Containers, sessions: dict[str, SessionReport]
) -> None:
    """`podman stop` (SIGTERM, SIGKILL after the manifest's terminationGracePeriodSeconds): every
    station is closed with 1012 (service restart: reconnect elsewhere) and the gateway exits by
    itself. (podman runs no preStop hook: in a cluster `sleep 10` comes first.)"""
    stations = [
        await websockets.connect(f"{containers.gateway_url}/DRAIN-{i}", subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        for i in range(20)
    ]
    grace_s = "75"  # the gateway Deployment's terminationGracePeriodSeconds
    stop = await asyncio.to_thread(podman, "stop", "-t", grace_s, container("csms-gateway"))
    await asyncio.wait_for(asyncio.gather(*(ws.wait_closed() for ws in stations)), 30)
    assert [ws.close_code for ws in stations] == [1012] * len(stations), stop.stderr
    state = inspect("csms-gateway")["State"]
    assert state["ExitCode"] == 0, state  # 137 would be the SIGKILL at the end of the grace
    logs = podman("logs", container("csms-gateway")).stderr
    assert "draining 20 connections over at most 10.0s" in logs
    podman("start", container("csms-gateway"))
