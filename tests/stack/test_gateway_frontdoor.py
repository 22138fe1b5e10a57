"""The gateway's front door on the real stack: a gateway process against the real Kafka and
Redis (DB 8, port 19791), closed admission with Basic auth, one connection per station, and a
SIGTERM drain (1012 for every station, frames flushed to Kafka, exit 0)."""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from csms.envelope import FrameEnvelope
from tests.stack.gateway_process import register_stations, running_gateway
from tests.stack.kafka_reader import read_frames

pytestmark = pytest.mark.stack

PORT = 19791
REDIS_URL = "redis://127.0.0.1:6379/8"
KAFKA = "127.0.0.1:9092"
PASSWORD = "stack-password-0123456789"
STATIONS = [f"FD-{i}" for i in range(6)]


def _auth(station: str) -> dict[str, str]:
    token = base64.b64encode(f"{station}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    register_stations(REDIS_URL, STATIONS, PASSWORD).close()
    with running_gateway(
        "frontdoor", PORT, redis_url=REDIS_URL, kafka=KAFKA, logs=tmp_path_factory.mktemp("gw"),
        GATEWAY_ADMISSION="closed", GATEWAY_DRAIN_WINDOW_S="1.0",
    ) as gateway:  # fmt: skip
        yield gateway


async def _boot(ws: ClientConnection, uid: str = "b") -> dict[str, object]:
    boot = [2, uid, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    await ws.send(orjson.dumps(boot).decode())
    answer = orjson.loads(await ws.recv())
    assert answer[:2] == [3, uid]
    payload: dict[str, object] = answer[2]
    return payload


async def _frames(prefix: str, stations: set[str], min_count: int) -> list[FrameEnvelope]:
    topic = f"{prefix}ocpp.frames"
    return await read_frames(KAFKA, topic, lambda env: env.station in stations, min_count)


async def test_front_door_then_sigterm_drain(
    gateway: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    proc, prefix, log = gateway
    url = f"ws://127.0.0.1:{PORT}/ocpp"
    # Closed admission: unknown ids and wrong credentials never get a socket.
    for station, headers, status in [
        ("FD-unknown", {}, 403),
        ("FD-0", {}, 401),
        ("FD-0", _auth("FD-1"), 401),
    ]:
        with pytest.raises(InvalidStatus) as info:
            async with connect(
                f"{url}/{station}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=headers,
            ):
                pass
        assert info.value.response.status_code == status

    # One live connection per station: a second FD-0 replaces the first.
    first = await connect(f"{url}/FD-0", subprotocols=["ocpp1.6"], additional_headers=_auth("FD-0"))  # type: ignore[list-item]
    await _boot(first)
    socks = [
        await connect(f"{url}/{s}", subprotocols=["ocpp1.6"], additional_headers=_auth(s))  # type: ignore[list-item]
        for s in STATIONS
    ]
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(first.recv(), 10)
    assert first.close_code == 1008
    for ws in socks:
        assert (await _boot(ws))["status"] == "Accepted"

    # SIGTERM: every station is closed with 1012, the process flushes Kafka and exits 0.
    proc.send_signal(signal.SIGTERM)
    for ws in socks:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code == 1012
    assert await asyncio.to_thread(proc.wait, 60) == 0

    frames = await _frames(prefix, set(STATIONS), min_count=4 * len(STATIONS) + 4)
    per_station = {s: [(e.dir, e.kind) for e in frames if e.station == s] for s in STATIONS}
    # On failure: every frame read and the gateway's own log (Kafka warnings land there).
    context = f"frames: {per_station}\ngateway log:\n{log.read_text()[-4000:]}"
    for station in STATIONS[1:]:
        assert per_station[station] == [
            ("in", "connect"),
            ("in", "call"),
            ("out", "result"),
            ("in", "disconnect"),
        ], context
    # FD-0 had two sessions: both connects and both disconnects are in Kafka.
    assert per_station["FD-0"].count(("in", "connect")) == 2, context
    assert per_station["FD-0"].count(("in", "disconnect")) == 2, context
    drained = [
        e for e in frames if e.kind == "disconnect" and orjson.loads(e.frame)["code"] == 1012
    ]
    assert len(drained) == len(STATIONS)
