"""A small real swarm against a real gateway process (Kafka + Redis of the local stack).

Own gateway on port 19600, Redis DB 8, a unique topic prefix; bounded to 50 chargers for ~5 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PORT = 19600


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "GATEWAY_PORT": str(PORT),
        "GATEWAY_ID": "gw-swarm-smoke",
        "GATEWAY_DRAIN_WINDOW_S": "1",
        "CSMS_TOPIC_PREFIX": f"swarm-{uuid.uuid4().hex[:8]}.",
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "CSMS_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "gateway"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "gateway.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gateway not healthy in 60 s"
            time.sleep(0.3)
        yield f"ws://127.0.0.1:{PORT}/ocpp"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.stack
def test_swarm_of_50_chargers_boots_and_charges(gateway: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    subprocess.run(
        [
            sys.executable, "-m", "loadtests.swarm",
            "--url", gateway, "--chargers", "50", "--duration", "5", "--ramp", "1",
            "--heartbeat-interval", "2", "--meter-interval", "1", "--session", "2",
            "--idle", "1", "--processes", "2", "--station-prefix", f"SMOKE{uuid.uuid4().hex[:4]}-",
            "--output", str(out),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["connections"]["target"] == 50
    assert report["connections"]["established"] == 50
    assert report["connections"]["failed"] == 0
    assert report["boots"]["accepted"] == 50
    assert report["errors"] == {}
    assert report["calls"]["BootNotification"] == 50
    assert report["calls"].get("MeterValues", 0) + report["calls"].get("TransactionEvent", 0) > 0
    assert report["frames"]["sent"] == report["frames"]["received"] > 100
    assert report["latency_ms"]["count"] == report["frames"]["sent"]
    assert report["workers_lost"] == 0
