"""Burst (one gateway, the issue-3 scenarios): one connection sequential / pipelined and 100
connections (`loadtests.burst`), then what the frames cost in Kafka (log bytes per frame, batch
zstd vs per-event zstd with a dictionary)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import zstandard
from aiokafka import AIOKafkaConsumer

from loadtests.bench.processes import Bench
from loadtests.burst import BurstResult, run_burst

BURST_PORT = 19300


async def _kafka_frames(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500, max_records=20000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


def _log_bytes(log_dir: Path, topic: str) -> int:
    return sum(p.stat().st_size for p in log_dir.glob(f"{topic}-*/*.log"))


def _dictionary_bytes_per_frame(values: list[bytes]) -> float:
    """Per-event zstd with a dictionary trained on the first half, applied to the second."""
    half = len(values) // 2
    dictionary = zstandard.train_dictionary(16 * 1024, cast(Any, values[:half]))
    compressor = zstandard.ZstdCompressor(level=3, dict_data=dictionary)
    rest = values[half:]
    return sum(len(compressor.compress(v)) for v in rest) / len(rest)


async def _burst_async(b: Bench) -> dict[str, Any]:
    frames = b.scale.burst_frames
    prefix = f"{b.prefix}burst."
    # A burst is a flood by design: the per-connection rate limit (ADR 0007) is switched off.
    gw = b.start_gateway(
        BURST_PORT, "gw-bench-burst", CSMS_TOPIC_PREFIX=prefix, GATEWAY_RATE_LIMIT_PER_S="0"
    )
    b.wait_healthy([gw])
    url = f"ws://127.0.0.1:{BURST_PORT}/ocpp"
    scenarios: list[dict[str, Any]] = [
        {"mode": "sequential", "frames": frames // 10, "station_prefix": "SEQ"},
        {"mode": "pipelined", "frames": frames, "window": 16, "station_prefix": "PIPE"},
        {"mode": "sequential", "frames": frames, "connections": 100, "station_prefix": "MANY"},
    ]
    results: list[BurstResult] = []
    cpu_us: list[float] = []
    try:
        for scenario in scenarios:
            before = gw.cpu_s()
            result = await run_burst(url, **scenario)
            # Gateway CPU per answered CALL (one inbound + one outbound frame).
            cpu_us.append((gw.cpu_s() - before) / result.frames * 1e6)
            results.append(result)
    finally:
        b.procs.stop(gw.proc)
    topic = f"{prefix}ocpp.frames"
    values = await _kafka_frames(b.args.kafka_bootstrap, topic)
    storage = {
        "frames": float(len(values)),
        "raw": sum(map(len, values)) / len(values),
        "kafka_log": _log_bytes(b.args.kafka_log_dir, topic) / len(values),
        "dict": _dictionary_bytes_per_frame(values),
    }
    return {"bursts": [asdict(r) for r in results], "cpu_us": cpu_us, "storage": storage}


def burst(b: Bench) -> dict[str, Any]:
    return asyncio.run(_burst_async(b))
