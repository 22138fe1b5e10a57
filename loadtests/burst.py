"""Frames per second over WebSocket connections, each CALL answered only after Kafka's ack.

Two ways a connection can send:
* `sequential`: the next CALL only after the previous answer (what OCPP asks of a station);
  throughput is 1 / round trip, so it measures CALL -> CALLRESULT latency including the ack.
* `pipelined`: the client writes `window` CALLs ahead; the gateway keeps them in order and
  answers each after its ack, so this measures what one connection can push through.

    python -m loadtests.burst --url ws://127.0.0.1:9000/ocpp --frames 5000 --mode pipelined
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import websockets


@dataclass
class BurstResult:
    mode: str
    connections: int
    frames: int
    seconds: float
    frames_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def meter_values_frame(uid: str, tx: int, wh: int) -> str:
    """A typical 1.6 MeterValues CALL: energy register, power, current per phase, voltage."""
    ts = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    sampled = [
        {
            "value": str(wh),
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "context": "Sample.Periodic",
        },
        {
            "value": "11040",
            "measurand": "Power.Active.Import",
            "unit": "W",
            "context": "Sample.Periodic",
        },
        {
            "value": "16.0",
            "measurand": "Current.Import",
            "unit": "A",
            "phase": "L1",
            "context": "Sample.Periodic",
        },
        {
            "value": "230.1",
            "measurand": "Voltage",
            "unit": "V",
            "phase": "L1-N",
            "context": "Sample.Periodic",
        },
    ]
    payload = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [{"timestamp": ts, "sampledValue": sampled}],
    }
    return orjson.dumps([2, uid, "MeterValues", payload]).decode()


def mixed_frame(i: int, tx: int) -> str:
    """MeterValues-heavy mix: 8 of 10 MeterValues, 1 Heartbeat, 1 StatusNotification."""
    uid = str(i)
    if i % 10 == 8:
        return orjson.dumps([2, uid, "Heartbeat", {}]).decode()
    if i % 10 == 9:
        status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        return orjson.dumps([2, uid, "StatusNotification", status]).decode()
    return meter_values_frame(uid, tx, 1000 + i)


async def _sequential(ws: Any, frames: int, tx: int, latencies: list[float]) -> int:
    errors = 0
    for i in range(frames):
        t0 = time.perf_counter()
        await ws.send(mixed_frame(i, tx))
        answer = orjson.loads(await ws.recv())
        latencies.append(time.perf_counter() - t0)
        errors += answer[0] != 3
    return errors


async def _pipelined(ws: Any, frames: int, tx: int, window: int, latencies: list[float]) -> int:
    sent_at: dict[str, float] = {}
    slots = asyncio.Semaphore(window)

    async def writer() -> None:
        for i in range(frames):
            await slots.acquire()
            sent_at[str(i)] = time.perf_counter()
            await ws.send(mixed_frame(i, tx))

    task = asyncio.create_task(writer())
    errors = 0
    for _ in range(frames):
        answer = orjson.loads(await ws.recv())
        latencies.append(time.perf_counter() - sent_at.pop(answer[1]))
        errors += answer[0] != 3
        slots.release()
    await task
    return errors


async def _one_connection(
    url: str, station: str, mode: str, frames: int, window: int, latencies: list[float]
) -> int:
    async with websockets.connect(
        f"{url}/{station}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        max_size=2**20,
    ) as ws:
        boot = {"chargePointVendor": "Bench", "chargePointModel": "Burst"}
        await ws.send(orjson.dumps([2, "boot", "BootNotification", boot]).decode())
        await ws.recv()
        if mode == "sequential":
            return await _sequential(ws, frames, 1, latencies)
        return await _pipelined(ws, frames, 1, window, latencies)


async def run_burst(
    url: str,
    *,
    mode: str,
    frames: int,
    connections: int = 1,
    window: int = 16,
    station_prefix: str = "BURST",
) -> BurstResult:
    latencies: list[float] = []
    per_conn = frames // connections
    t0 = time.perf_counter()
    errors = await asyncio.gather(
        *(
            _one_connection(url, f"{station_prefix}-{c}", mode, per_conn, window, latencies)
            for c in range(connections)
        )
    )
    seconds = time.perf_counter() - t0
    latencies.sort()
    total = per_conn * connections
    return BurstResult(
        mode=mode,
        connections=connections,
        frames=total,
        seconds=round(seconds, 3),
        frames_per_s=round(total / seconds, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 2),
        p99_ms=round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        errors=sum(errors),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:9000/ocpp")
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--mode", choices=["sequential", "pipelined"], default="pipelined")
    args = parser.parse_args()
    result = asyncio.run(
        run_burst(
            args.url,
            mode=args.mode,
            frames=args.frames,
            connections=args.connections,
            window=args.window,
        )
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
