"""The operator API served for real: `services.api.main.run` in its own process (uvicorn),
called over HTTP, reading a real Redis seeded with the processors' read-model layout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from csms.domain.model import ConnectorStatus, Transaction
from csms.infra import redis_keys as keys

pytestmark = pytest.mark.stack

REDIS_URL = os.environ.get("CSMS_TEST_API_STACK_REDIS_URL", "redis://127.0.0.1:6379/12")
T0 = 1_738_324_800_000  # 2025-01-31T12:00:00.000Z
SERVE = "from csms.settings import Settings; from services.api.main import run; "
SERVE += "run(Settings.from_env())"
ADMIN_TOKEN = f"stack-admin-{uuid.uuid4().hex}"  # the process's CSMS_API_TOKEN
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class ApiProcess:
    def __init__(self, redis_url: str, log_path: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "REDIS_URL": redis_url, "API_HOST": "127.0.0.1"}
        env["API_PORT"] = str(self.port)
        env["CSMS_API_TOKEN"] = ADMIN_TOKEN
        env["CSMS_TOPIC_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}."  # audit topic of this run
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_listening(self) -> None:
        """Wait (bounded) until uvicorn accepts connections; fail with its log otherwise."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"API exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"API did not listen on {self.port}:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, as Kubernetes does, and the exit code once it drained."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._log.close()
        return code

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def api(store: redis.Redis, tmp_path: Path) -> Iterator[ApiProcess]:
    proc = ApiProcess(REDIS_URL, tmp_path / "api.log")
    try:
        proc.wait_listening()
        yield proc
    finally:
        proc.stop()


def _seed(store: redis.Redis) -> None:
    for i, (sid, proto, online) in enumerate(
        [("CP-A", "ocpp2.0.1", True), ("CP-B", "ocpp1.6", False), ("CP-C", "ocpp2.1", True)]
    ):
        store.sadd(keys.STATIONS, sid)
        store.hset(
            keys.station(sid),
            mapping={
                "protocol": proto,
                "online": "1" if online else "0",
                "last_seen": str(T0 + i),
                "vendor": "ACME",
                "gateway": "gw-1",
            },
        )
    for evse, connector, status in [(0, 0, "Available"), (1, 1, "Occupied"), (2, 1, "Faulted")]:
        cs = ConnectorStatus("CP-A", evse, connector, status, "NoError", T0, "ocpp2.0.1", "e")
        store.hset(keys.station_connectors("CP-A"), f"{evse}/{connector}", orjson.dumps(asdict(cs)))
    for tx_id, started, energy, state in [
        ("t1", T0, 7000.0, "ended"),
        ("t2", T0 + 9, 150.0, "active"),
    ]:
        tx = Transaction(
            key=f"CP-A/{tx_id}", station="CP-A", transaction_id=tx_id, proto="ocpp2.0.1",
            evse=1, connector=1, state=state, started_ms=started, energy_wh=energy,
        )  # fmt: skip
        store.set(keys.transaction(tx.key), orjson.dumps(tx.to_dict()))
        store.zadd(keys.station_transactions("CP-A"), {tx.key: started})
        store.zadd(keys.TRANSACTIONS, {tx.key: started})


def test_api_over_http(store: redis.Redis, api: ApiProcess) -> None:
    _seed(store)
    with httpx.Client(base_url=api.base_url, timeout=10, headers=ADMIN_HEADERS) as http:
        assert http.get("/health").json() == {"status": "ok"}
        anonymous = httpx.get(f"{api.base_url}/api/v1/stations", timeout=10)
        assert (anonymous.status_code, anonymous.json()["error"]) == (401, "unauthorized")
        assert anonymous.headers["www-authenticate"] == "Bearer"

        stations = http.get("/api/v1/stations", params={"limit": 2}).json()
        assert [s["id"] for s in stations["items"]] == ["CP-A", "CP-B"]
        assert stations["total"] == 3
        rest = http.get("/api/v1/stations", params={"cursor": stations["next_cursor"]}).json()
        assert [s["id"] for s in rest["items"]] == ["CP-C"]
        online = http.get("/api/v1/stations", params={"online": "true"}).json()
        assert [s["id"] for s in online["items"]] == ["CP-A", "CP-C"]

        detail = http.get("/api/v1/stations/CP-A").json()
        assert detail["station_status"]["status"] == "Available"
        assert [(e["evse_id"], e["connectors"][0]["status"]) for e in detail["evses"]] == [
            (1, "Occupied"),
            (2, "Faulted"),
        ]
        missing = http.get("/api/v1/stations/CP-X")
        assert missing.status_code == 404
        assert missing.json()["error"] == "station_not_found"

        txs = http.get("/api/v1/transactions", params={"station_id": "CP-A"}).json()
        assert [(t["transaction_id"], t["energy_wh"]) for t in txs["items"]] == [
            ("t2", 150.0),
            ("t1", 7000.0),
        ]
        assert http.get("/api/v1/transactions/CP-A/t1").json()["state"] == "ended"
        assert http.get("/api/v1/transactions/CP-A/t9").status_code == 404

        bad = http.get("/api/v1/stations", params={"limit": 0})
        assert (bad.status_code, bad.json()["error"]) == (422, "invalid_request")

        _security_over_http(http, store)

        spec = http.get("/openapi.json").json()
        assert "/api/v1/stations/{station_id}" in spec["paths"]
        metrics = http.get("/metrics").text
        assert 'route="/api/v1/stations/{station_id}",status="404"' in metrics

    assert api.stop() == 0, api.log()
    assert "Finished server process" in api.log()


def _security_over_http(http: httpx.Client, store: redis.Redis) -> None:
    """Tokens, station registration and id tokens through the real process."""
    minted = http.post("/api/v1/api-tokens", json={"name": "reader", "role": "analyst"})
    assert minted.status_code == 201, minted.text
    reader = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert http.get("/api/v1/stations", headers=reader).status_code == 200
    refused = http.post(
        "/api/v1/id-tokens", headers=reader, json={"id_token": "X", "type": "ISO14443"}
    )
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")

    token = http.post(
        "/api/v1/id-tokens", json={"id_token": "RFID-1", "type": "ISO14443", "group_id": "G"}
    )
    assert token.status_code == 201, token.text
    assert http.post("/api/v1/id-tokens/RFID-1/block").json()["status"] == "Blocked"
    assert store.hgetall(keys.id_token("RFID-1"))["status"] == "Blocked"

    password = "stack-test-password-1234"
    station = http.post("/api/v1/stations", json={"id": "CP-REG", "password": password})
    assert station.status_code == 201, station.text
    assert station.json()["has_password"] is True and password not in station.text
    assert store.hget(keys.registration("CP-REG"), "status") == "Accepted"
    assert http.get("/api/v1/stations/CP-REG").json()["registration_status"] == "Accepted"


def test_health_over_http_when_redis_is_down(tmp_path: Path) -> None:
    down = ApiProcess(f"redis://127.0.0.1:{_free_port()}/0", tmp_path / "api-down.log")
    try:
        down.wait_listening()
        with httpx.Client(base_url=down.base_url, timeout=10, headers=ADMIN_HEADERS) as http:
            resp = http.get("/health")
            assert resp.status_code == 503
            assert resp.json()["error"] == "redis_unavailable"
            assert http.get("/api/v1/stations").status_code == 503
    finally:
        assert down.stop() == 0, down.log()
