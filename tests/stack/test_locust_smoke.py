"""Locust chargers against the real local stack: a small headless run (10 users, 25 s), with one
CSMS-initiated Reset sent through the API while it runs; then the CSV statistics and the API's
view of stations and transactions are checked."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.stack.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
USERS = 10


def wait_online(stack: Stack, station: str, deadline: float) -> dict[str, object]:
    while time.monotonic() < deadline:
        r = httpx.get(f"{stack.api_url}/api/v1/stations/{station}", headers=stack.api_headers)
        if r.status_code == 200 and r.json().get("online"):
            body: dict[str, object] = r.json()
            return body
        time.sleep(0.5)
    raise AssertionError(f"{station} never came online")


@pytest.mark.stack
def test_locust_chargers_report_every_action(stack: Stack, tmp_path: Path) -> None:
    prefix = f"LSMOKE-{uuid.uuid4().hex[:6]}-"
    log_path = tmp_path / "locust.log"
    cmd = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"),
        "--headless", "-u", str(USERS), "-r", str(USERS), "-t", "25s",
        "--host", f"{stack.gateway_url}/ocpp", "--csv", str(tmp_path / "run"),
        "--meter-interval-s", "2", "--session-minutes", "0.2", "--idle-s", "1",
        "--heartbeat-s", "5", "--station-prefix", prefix,
        "--protocol-mix", "ocpp1.6=50,ocpp2.0.1=50", "--only-summary",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOCUST_SHAPE": ""}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        # While it runs: a CSMS-initiated Reset to one charger, answered and acted on.
        target = f"{prefix}0-000000"
        wait_online(stack, target, time.monotonic() + 20)
        reset = httpx.post(
            f"{stack.api_url}/api/v1/stations/{target}/commands/reset",
            headers=stack.api_headers,
            json={"type": "on-idle"},
            timeout=30,
        )
        assert reset.status_code == 200, reset.text
        assert reset.json()["result"]["status"] == "Accepted"
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 0, log_path.read_text()[-5000:]

    with (tmp_path / "run_stats.csv").open() as f:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}
    total = rows[("", "Aggregated")]
    assert int(total["Failure Count"]) == 0
    count = {key: int(r["Request Count"]) for key, r in rows.items()}
    common = ["BootNotification", "StatusNotification", "Authorize", "Heartbeat"]
    expected = {
        "OCPP1.6": [*common, "StartTransaction", "MeterValues", "StopTransaction"],
        "OCPP2.0.1": [*common, "TransactionEvent"],
    }
    for kind, names in expected.items():
        for name in names:
            assert count.get((kind, name), 0) > 0, (kind, name, sorted(count))
    assert count[("WS", "connect")] >= USERS + 1  # every charger, and the reset one again
    assert sum(n for (kind, name), n in count.items() if name == "Reset") == 1
    assert kind_of_reset(rows) in ("CSMS-OCPP1.6", "CSMS-OCPP2.0.1")
    for key, r in rows.items():
        if key[0].startswith("OCPP"):
            # sensible latencies: measured, not negative, below the call timeout (30 s)
            assert 0 <= float(r["Average Response Time"]) < 30_000, key
            assert float(r["Max Response Time"]) >= float(r["Min Response Time"]) >= 0, key

    # The CSMS saw the stations and recorded finished transactions of both protocols.
    protocols = set()
    ended = 0
    for i in range(USERS):
        station = f"{prefix}0-{i:06d}"
        got = httpx.get(f"{stack.api_url}/api/v1/stations/{station}", headers=stack.api_headers)
        assert got.status_code == 200, (station, got.text)
        protocols.add(got.json()["protocol"])
        txs = httpx.get(
            f"{stack.api_url}/api/v1/transactions",
            params={"station_id": station, "state": "ended"},
            headers=stack.api_headers,
        )
        assert txs.status_code == 200
        ended += len(txs.json()["items"])
    assert protocols == {"ocpp1.6", "ocpp2.0.1"}
    assert ended >= USERS  # at least one full session each within 25 s (12 s sessions)


def kind_of_reset(rows: dict[tuple[str, str], dict[str, str]]) -> str:
    return next(kind for kind, name in rows if name == "Reset")
