"""Processor throughput and lag: the real `csms processors` worker against the local Kafka and
Redis, fed the replay benchmark's realistic frames (loadtests.corpus: 1.6 and 2.0.1
stations charging, a meter value a minute).

    python -m loadtests.processors_bench backlog --frames 200000
    python -m loadtests.processors_bench paced --rate 2572 --seconds 120

`backlog`: N frames are in the topic before the worker starts; the time from the worker's first
committed offset to no lag gives frames/s per processor process (all four agents).
`paced`: the worker runs first, then frames arrive at --rate for --seconds (the gateway
benchmark's rate by default); the group's lag (frames not yet folded by every agent) is sampled
every second, and after the last frame the time until it is 0.
Topics are prefixed `bench-proc-<id>-`, the consumer group and Redis DB (default 15) are the
run's own and are removed at the end. Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from csms.infra.kafka import ensure_topics, producer_config
from csms.settings import LOCAL_STATE_DIR, Settings, Topics
from loadtests.corpus import Station, cleanup, interleaved, produce
from loadtests.processes import ServiceProcess, stop_all

# The gateway benchmark's rate per gateway core (docs/benchmarks.md, "Gateway").
GATEWAY_RATE = 2572
RUN_PROCESSORS = "from csms.settings import Settings; from services.processors.main import run; "
RUN_PROCESSORS += "run(Settings.from_env())"


def quantile_ms(sorted_s: list[float], q: float) -> float:
    return sorted_s[min(len(sorted_s) - 1, int(q * len(sorted_s)))] * 1000


def lag(consumer: Consumer, topic: str) -> tuple[int, int]:
    """(records of `topic` not yet committed by the consumer's group, records committed)."""
    metadata = consumer.list_topics(topic, timeout=10)
    parts = [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
    committed = consumer.committed(parts, timeout=10)
    behind = done = 0
    for tp in committed:
        _, high = consumer.get_watermark_offsets(tp, timeout=10)
        offset = max(tp.offset, 0)
        behind += high - offset
        done += offset
    return behind, done


def start_worker(settings: Settings, redis_url: str, log: Path) -> ServiceProcess:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CSMS_TOPIC_PREFIX": settings.topics.prefix,
        "REDIS_URL": redis_url,
        "PROCESSORS_APP_ID": settings.processors_app_id,
        "PROCESSORS_WEB_PORT": "0",
    }
    return ServiceProcess([sys.executable, "-c", RUN_PROCESSORS], env, log).start()


def group_consumer(settings: Settings) -> Consumer:
    """A consumer of the processors' group that never subscribes: it only reads offsets."""
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": settings.processors_app_id,
            "enable.auto.commit": False,
        }
    )


def start_workers(settings: Settings, redis_url: str, log: Path, n: int) -> list[ServiceProcess]:
    """n processor processes in one consumer group (the partitions are shared among them)."""
    return [start_worker(settings, redis_url, log.with_suffix(f".{i}.log")) for i in range(n)]


def cpu_seconds(workers: list[ServiceProcess]) -> float:
    """User + system CPU the worker processes (and their threads) have used so far."""
    total = 0.0
    for worker in workers:
        times = psutil.Process(worker.pid).cpu_times()
        total += times.user + times.system
    return total


def stop_workers(workers: list[ServiceProcess]) -> None:
    """SIGTERM to all, then up to 120 s each to drain before SIGKILL."""
    stop_all(workers, 120)


def check_alive(workers: list[ServiceProcess], log: Path) -> None:
    for worker in workers:
        if (code := worker.returncode) is not None:
            raise SystemExit(f"processors exited {code}; see {log}.*")


def backlog(
    settings: Settings, redis_url: str, frames: int, stations: int, log: Path, n: int
) -> dict[str, Any]:
    size, seconds = produce(settings, frames, stations, settings.topics.prefix)
    print(f"produced {frames:,} frames ({size / frames:.0f} B each) in {seconds:.1f} s")
    workers = start_workers(settings, redis_url, log, n)
    consumer = group_consumer(settings)
    try:
        started, first = time.monotonic(), None
        while True:
            behind, done = lag(consumer, settings.topics.frames)
            now = time.monotonic()
            if first is None and done > 0:
                first = (now, done, cpu_seconds(workers))
            if behind == 0 and done > 0:
                break
            check_alive(workers, log)
            time.sleep(0.5)
        assert first is not None
        span = now - first[0]
        rate = (done - first[1]) / span if span > 0 else float("nan")
        # CPU per frame: what the workers themselves spent, steadier than the rate on a
        # machine whose other processes (Kafka, Redis, anything else) take turns on the cores.
        cpu_us = (cpu_seconds(workers) - first[2]) / max(1, done - first[1]) * 1e6
        print(
            f"folded {frames:,} frames with {n} processor process(es): {now - started:.1f} s "
            f"from their start, {rate:,.0f} frames/s after the first commit "
            f"({rate / n:,.0f} per process); {cpu_us:,.0f} µs of worker CPU per frame "
            f"(= {1e6 / cpu_us:,.0f} frames per CPU-second)"
        )
        return {
            "frames": frames,
            "workers": n,
            "frames_per_s": round(rate / n),
            "cpu_us_per_frame": round(cpu_us),
        }
    finally:
        stop_workers(workers)
        consumer.close()


def paced(
    settings: Settings, redis_url: str, rate: int, seconds: int, stations: int, log: Path, n: int
) -> dict[str, Any]:
    workers = start_workers(settings, redis_url, log, n)
    consumer = group_consumer(settings)
    producer = Producer(producer_config(settings, client_id="processors-bench"))
    try:
        # The worker has joined once it committed something: one frame, then wait.
        frames = interleaved([Station(i, settings.topics.prefix) for i in range(stations)], 10**12)
        station, value = next(frames)
        producer.produce(settings.topics.frames, value, station.id.encode())
        producer.flush(30)
        while lag(consumer, settings.topics.frames)[1] == 0:
            check_alive(workers, log)
            time.sleep(0.5)
        samples: list[int] = []
        started = time.monotonic()
        next_sample = started + 1.0
        sent = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate) - sent
            for _ in range(due):
                station, value = next(frames)
                while True:
                    try:
                        producer.produce(settings.topics.frames, value, station.id.encode())
                        break
                    except BufferError:
                        producer.poll(0.01)
                sent += 1
            producer.poll(0)
            if time.monotonic() >= next_sample:
                samples.append(lag(consumer, settings.topics.frames)[0])
                next_sample += 1.0
            time.sleep(0.002)
        producer.flush(60)
        end = time.monotonic()
        while lag(consumer, settings.topics.frames)[0] > 0:
            time.sleep(0.25)
        catch_up = time.monotonic() - end
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(
            f"{n} processor process(es), offered {sent:,} frames at {rate:,}/s for {seconds} s; "
            f"lag in frames "
            f"p50 {statistics.median(ordered):,.0f}, p99 {p99:,}, max {ordered[-1]:,} "
            f"(≈ {ordered[-1] / rate:.1f} s of traffic); 0 again {catch_up:.1f} s after the "
            f"last frame"
        )
        return {
            "rate": rate,
            "seconds": seconds,
            "workers": n,
            "lag_p50_s": round(statistics.median(ordered) / rate, 2),
            "lag_p99_s": round(p99 / rate, 2),
            "lag_max_s": round(ordered[-1] / rate, 2),
            "catch_up_s": round(catch_up, 1),
        }
    finally:
        stop_workers(workers)
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("backlog", help="frames/s of one processor process on a backlog")
    b.add_argument("--frames", type=int, default=200_000)
    p = sub.add_parser("paced", help="lag at a steady rate")
    p.add_argument("--rate", type=int, default=GATEWAY_RATE)
    p.add_argument("--seconds", type=int, default=120)
    for s in (b, p):
        s.add_argument("--stations", type=int, default=2000)
        s.add_argument("--workers", type=int, default=1, help="processor processes, one group")
        s.add_argument("--kafka", default="127.0.0.1:9092")
        s.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
        s.add_argument("--json", type=Path, help="also write the figures here (make bench)")
    args = parser.parse_args()
    for url in (args.kafka, args.redis_url):
        if "127.0.0.1" not in url and "localhost" not in url:
            raise SystemExit(f"refusing a non-local target: {url}")
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap=args.kafka,
        topics=Topics(prefix=f"bench-proc-{run}-"),
        processors_app_id=f"bench-proc-{run}",
    )
    log = LOCAL_STATE_DIR / f"bench-processors-{run}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings))  # the CSMS's partition count, before any frame
    try:
        if args.mode == "backlog":
            figures = backlog(
                settings, args.redis_url, args.frames, args.stations, log, args.workers
            )
        else:
            figures = paced(
                settings, args.redis_url, args.rate, args.seconds, args.stations, log, args.workers
            )
        if args.json:
            args.json.write_text(json.dumps(figures))
    finally:
        for attempt in range(6):  # the group empties once the broker drops the stopped members
            try:
                cleanup(settings, args.redis_url)
                break
            except KafkaException:
                if attempt == 5:
                    raise
                time.sleep(10)
        print(f"worker logs: {log.with_suffix('')}.*.log")


if __name__ == "__main__":
    main()
