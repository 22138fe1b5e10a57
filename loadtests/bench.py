"""`make bench`: the standard gateway scenarios against a real gateway, Kafka and Redis.

Starts its own gateway process (own port, own topic prefix, so a running `make up` is not
disturbed), drives it with `loadtests.burst`, then measures what the frames cost in Kafka:
on-disk log bytes per frame (batch zstd, as produced) and, for comparison, per-event zstd with a
dictionary trained on the same traffic. Prints a Markdown table for docs/benchmarks.md.

    python -m loadtests.bench [--frames 20000] [--connections 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import zstandard
from aiokafka import AIOKafkaConsumer

from csms.settings import LOCAL_STATE_DIR
from loadtests.burst import BurstResult, run_burst

GATEWAY_PORT = 19300


def _start_gateway(prefix: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CSMS_TOPIC_PREFIX": prefix,
        "GATEWAY_PORT": str(GATEWAY_PORT),
        "GATEWAY_ID": "gw-bench",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "CSMS_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "gateway"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{GATEWAY_PORT}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("bench gateway did not become healthy")


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
    dictionary = zstandard.train_dictionary(16 * 1024, values[:half])
    compressor = zstandard.ZstdCompressor(level=3, dict_data=dictionary)
    rest = values[half:]
    return sum(len(compressor.compress(v)) for v in rest) / len(rest)


def _markdown(results: list[BurstResult], cpu_us: list[float], storage: dict[str, float]) -> str:
    lines = [
        "| scenario | connections | CALLs | CALLs/s | p50 ms | p99 ms | errors "
        "| gateway CPU µs per CALL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r, cpu in zip(results, cpu_us, strict=True):
        lines.append(
            f"| {r.mode} | {r.connections} | {r.frames} | {r.frames_per_s:,.0f} | "
            f"{r.p50_ms} | {r.p99_ms} | {r.errors} | {cpu:.0f} |"
        )
    lines += [
        "",
        "| Kafka storage (MeterValues-heavy mix) | bytes per frame |",
        "|---|---|",
        f"| envelope, uncompressed | {storage['raw']:.0f} |",
        f"| Kafka log on disk, batch zstd as produced | {storage['kafka_log']:.1f} |",
        f"| per-event zstd, trained 16 KiB dictionary (offline) | {storage['dict']:.1f} |",
        f"| frames in topic | {storage['frames']:.0f} |",
    ]
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    gateway = _start_gateway(prefix)
    url = f"ws://127.0.0.1:{GATEWAY_PORT}/ocpp"
    scenarios: list[dict[str, Any]] = [
        {"mode": "sequential", "frames": args.frames // 10, "station_prefix": "SEQ"},
        {"mode": "pipelined", "frames": args.frames, "window": 16, "station_prefix": "PIPE"},
        {
            "mode": "sequential",
            "frames": args.frames,
            "connections": args.connections,
            "station_prefix": "MANY",
        },
    ]
    results: list[BurstResult] = []
    cpu_us: list[float] = []
    try:
        proc = psutil.Process(gateway.pid)
        for scenario in scenarios:
            before = sum(proc.cpu_times()[:2])
            result = await run_burst(url, **scenario)
            # Gateway CPU per answered CALL (one inbound + one outbound frame).
            cpu_us.append((sum(proc.cpu_times()[:2]) - before) / result.frames * 1e6)
            results.append(result)
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=30)
    topic = f"{prefix}ocpp.frames"
    values = await _kafka_frames(args.kafka_bootstrap, topic)
    storage = {
        "frames": float(len(values)),
        "raw": sum(map(len, values)) / len(values),
        "kafka_log": _log_bytes(args.kafka_log_dir, topic) / len(values),
        "dict": _dictionary_bytes_per_frame(values),
    }
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"## make bench — {when}, {platform.node()}, {os.cpu_count()} cores\n")
    print(_markdown(results, cpu_us, storage))
    print(
        "\n```json\n"
        + json.dumps({"bursts": [asdict(r) for r in results], "storage": storage}, indent=1)
        + "\n```"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument(
        "--kafka-bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--kafka-log-dir", type=Path, default=LOCAL_STATE_DIR / "kafka" / "data")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
