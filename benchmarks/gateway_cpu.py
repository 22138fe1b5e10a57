"""The gateway's CPU per CALL, all its threads, on the local Kafka and Redis.

    python -m benchmarks.gateway_cpu --frames 20000 --connections 100
    python -m benchmarks.gateway_cpu --tree /tmp/base        # the same, for another checkout

Starts one real gateway (`csms gateway`, from this tree or `--tree`, topics under a fresh
prefix, rate limit off), warms it with 2,000 CALLs, then sends `--frames` CALLs of the burst mix
(`loadtests.burst`, MeterValues-heavy, every CALL answered after Kafka's ack) over
`--connections` connections, one CALL at a time each. Prints the gateway's CPU per CALL (user +
system, every thread: event loop, librdkafka's, the ack poller), its CPU per thread group, the
client's figures and the Kafka bytes per frame of the run's topic. Loopback only; stops by itself.
An A/B of two revisions runs this alternately against two worktrees (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from loadtests.burst import run_burst
from loadtests.processes import ServiceProcess

PORT = 19340
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) per thread name of a process."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) * TICK_S
    return out


def kafka_bytes_per_frame(bootstrap: str, topic: str, log_dir: Path) -> float | None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bytes-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        frames = 0
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            frames += high - low
    finally:
        consumer.close()
    size = sum(f.stat().st_size for f in log_dir.glob(f"{topic}-*/*.log"))
    return size / frames if frames and size else None


async def measure(args: argparse.Namespace, tree: Path) -> None:
    prefix = f"bench-gwcpu-{uuid.uuid4().hex[:8]}."
    env = {
        **os.environ,
        "PYTHONPATH": f"{tree / 'libs'}:{tree}",
        "CSMS_TOPIC_PREFIX": prefix,
        "GATEWAY_PORT": str(args.port),
        "GATEWAY_ID": "gw-bench-cpu",
        "REDIS_URL": args.redis_url,
        "CSMS_LOG_LEVEL": "WARNING",
        "GATEWAY_RATE_LIMIT_PER_S": "0",
    }
    log = Path(f"/tmp/{prefix}gateway.log")
    argv = [sys.executable, "-m", "services.cli", "gateway"]
    gateway = ServiceProcess(argv, env, log, cwd=tree).start()
    try:
        await gateway.wait_healthy_async(60, f"http://127.0.0.1:{args.port}/health")
        url = f"ws://127.0.0.1:{args.port}/ocpp"
        await run_burst(url, mode="sequential", frames=2000, connections=args.connections)
        before, started = thread_cpu_s(gateway.pid), time.monotonic()
        result = await run_burst(
            url, mode="sequential", frames=args.frames, connections=args.connections
        )
        after = thread_cpu_s(gateway.pid)
    finally:
        await gateway.stop_async()
    spent = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    total = sum(spent.values())
    print(
        f"{result.frames:,} CALLs in {time.monotonic() - started:.1f} s "
        f"({result.frames_per_s:,.0f}/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"{result.errors} errors)"
    )
    print(f"gateway CPU per CALL: {total / result.frames * 1e6:,.0f} µs")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        if seconds > 0:
            print(f"  {name:<16} {seconds / result.frames * 1e6:7.1f} µs per CALL")
    per_frame = kafka_bytes_per_frame(
        args.kafka_bootstrap, f"{prefix}ocpp.frames", Path(args.kafka_log_dir)
    )
    if per_frame is not None:
        print(f"Kafka bytes per frame (log on disk, zstd batches): {per_frame:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--tree", default=".", help="the checkout whose gateway is measured")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--kafka-bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--kafka-log-dir", default=".local/kafka/data")
    args = parser.parse_args()
    asyncio.run(measure(args, Path(args.tree).resolve()))


if __name__ == "__main__":
    main()
