"""Billing projection throughput and end-of-transaction -> bill latency, on the local Kafka and
Redis, fed the transaction snapshots of the replay benchmark's realistic stations (1.6 and
2.0.1 sessions, a meter value a minute; loadtests.corpus).

    python -m benchmarks.billing_bench step --frames 200000
    python -m benchmarks.billing_bench paced --rate 2572 --seconds 30

The corpus: the stations' frames folded by the real transactions step (in memory), keeping what
it publishes on `csms.transactions` (snapshots, each carrying its frame's readings, and neutral
events, which the billing skips) - the billing agent's real input. A default tariff with a night
period, idle price, fee and tax prices every session (Redis DB 15 by default, flushed - as
loadtests.processors_bench's default is: run one at a time, or give another --redis-url).

`step`: the billing step alone in this process, through the write-behind Redis copy the live
agent uses (flushed every 1000 records): records/s for one process, and its CPU per snapshot.
`paced`: a real `csms processors` worker; the snapshots are produced to its transactions topic
at --rate records/s (the gateway benchmark's frame rate: about one snapshot per frame) for
--seconds. Sampled every second: the group's lag on that topic; at the end, the worker's CPU
per record (all its threads, idle agents included). For every session's last
snapshot, the time from its produce to its final bill readable in Redis (what the API serves)
gives the end-of-transaction -> bill latency. Topics (`bench-bill-<id>-`), group and Redis DB are
removed at the end. Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer
from redis import Redis

from csms.envelope import decode
from csms.infra import redis_keys
from csms.infra.billing_lookups import BillingLookups
from csms.infra.kafka import ensure_topics, producer_config
from csms.infra.memory_redis import MemoryRedis
from csms.infra.redis_client import make_redis
from csms.projections.billing import BillingConfig, BillingStep, RedisBillingStore
from csms.projections.pipeline import handle_value
from csms.projections.wiring import build_processors
from csms.projections.write_behind import WriteBehindRedis
from csms.readmodels.tariffs import RedisTariffs as TariffStore
from csms.settings import Settings, Topics
from loadtests.corpus import Station, cleanup, interleaved
from loadtests.processors_bench import (
    GATEWAY_RATE,
    cpu_seconds,
    lag,
    quantile_ms,
    start_workers,
    stop_workers,
)

TARIFF = {
    "id": "bench",
    "currency": "EUR",
    "energy_per_kwh": "0.39",
    "charging_per_hour": "0.60",
    "idle_per_hour": "6.00",
    "session_fee": "0.50",
    "tax_rate": "0.19",
    "timezone": "Europe/Berlin",
    "periods": [{"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.29"}],
}


class Capture:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.records: list[tuple[bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        if topic == self.topic:
            self.records.append((key, value))


async def corpus(settings: Settings, frames: int, stations: int) -> list[tuple[bytes, bytes]]:
    """What the transactions step publishes for the stations' frames (key, value)."""
    out = Capture(settings.topics.transactions)
    memory = MemoryRedis()
    processors = build_processors(settings, out, lambda agent: memory)
    run = uuid.uuid4().hex[:6]
    for _, raw in interleaved([Station(i, run) for i in range(stations)], frames):
        await processors.on_transactions(decode(raw))
    return out.records


async def seed_tariff(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    redis.close()
    client = make_redis(Settings(redis_url=redis_url))
    store = TariffStore(client)
    await store.create(TARIFF, 0)
    await store.assign("default", tariff_id="bench", now_ms=0)
    await client.aclose()


async def step(settings: Settings, records: list[tuple[bytes, bytes]], redis_url: str) -> None:
    await seed_tariff(redis_url)
    client = make_redis(Settings(redis_url=redis_url))
    cache = WriteBehindRedis(client)
    billing = BillingStep(RedisBillingStore(cache), BillingLookups(client), None, BillingConfig())

    async def on_record(record: dict[str, Any]) -> bool:
        return (await billing.on_snapshot(record)).changed

    started, cpu = time.perf_counter(), time.process_time()
    for i, (_, value) in enumerate(records, start=1):
        await handle_value("billing", value, on_record)
        if i % 1000 == 0:
            await cache.flush()
    await cache.flush()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await client.aclose()
    snapshots = sum(1 for _, v in records if b'"type":"transaction"' in v)
    print(
        f"step: {len(records):,} records ({snapshots:,} snapshots) in {seconds:.1f} s = "
        f"{len(records) / seconds:,.0f} records/s, {snapshots / seconds:,.0f} snapshots/s; "
        f"CPU {cpu / snapshots * 1e6:,.0f} µs per snapshot"
    )


class BillWatch:
    """Polls Redis for the final bills of the sessions whose last snapshot was produced."""

    def __init__(self, redis_url: str) -> None:
        self.redis = Redis.from_url(redis_url)
        self.pending: dict[str, float] = {}
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def expect(self, key: str) -> None:
        with self.lock:
            self.pending.setdefault(key, time.monotonic())

    def run(self) -> None:
        while not (self.stop.is_set() and not self.pending):
            with self.lock:
                keys = list(self.pending)
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                values = self.redis.mget([redis_keys.bill(k) for k in chunk])
                now = time.monotonic()
                with self.lock:
                    for key, value in zip(chunk, values, strict=True):
                        if value and b'"final_sig"' in value:
                            self.latencies.append(now - self.pending.pop(key))
            time.sleep(0.01)


def paced(
    settings: Settings, records: list[tuple[bytes, bytes]], redis_url: str, rate: int, seconds: int
) -> dict[str, Any]:
    asyncio.run(seed_tariff(redis_url))
    asyncio.run(ensure_topics(settings))
    topic = settings.topics.transactions
    log = Path(tempfile.mkdtemp(prefix="billing-bench-")) / "processors"
    workers = start_workers(settings, redis_url, log, 1)
    watch = BillWatch(redis_url)
    poller = threading.Thread(target=watch.run, daemon=True)
    producer = Producer(producer_config(settings, client_id="billing-bench"))
    offsets = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": settings.processors_billing_group,
        }
    )
    try:
        time.sleep(15)  # the worker joins its group
        poller.start()
        total = min(len(records), rate * seconds)
        ended = {i for i, (_, v) in enumerate(records[:total]) if b'"state":"ended"' in v}
        lags: list[int] = []
        cpu_before = cpu_seconds(workers)
        started = time.monotonic()
        next_sample = started + 1
        for i, (key, value) in enumerate(records[:total]):
            due = started + i / rate
            while (now := time.monotonic()) < due:
                time.sleep(min(due - now, 0.005))
            producer.produce(topic, value, key)
            producer.poll(0)
            if i in ended:
                producer.flush(10)  # the clock starts when Kafka has the end
                watch.expect(orjson.loads(value)["key"])
            if time.monotonic() >= next_sample:
                lags.append(lag(offsets, topic)[0])
                next_sample += 1
        producer.flush(60)
        sent_s = time.monotonic() - started
        while (behind := lag(offsets, topic)[0]) > 0 and time.monotonic() - started < sent_s + 600:
            lags.append(behind)
            time.sleep(1)
        drained_s = time.monotonic() - started - sent_s
        cpu_us = (cpu_seconds(workers) - cpu_before) / total * 1e6  # the worker's, per record
        watch.stop.set()
        poller.join(120)
        got = sorted(watch.latencies)
        print(
            f"paced: {total:,} records at {rate}/s in {sent_s:.1f} s; lag p50 "
            f"{statistics.median(lags) if lags else 0:,.0f} max {max(lags or [0]):,}; "
            f"0 again {drained_s:.1f} s after the last record; worker CPU {cpu_us:,.0f} µs per "
            f"record ({cpu_us * rate / 1e4:.0f} % of a core)"
        )
        if got:
            print(
                f"end -> final bill in Redis: {len(got):,} sessions, p50 "
                f"{quantile_ms(got, 0.5):.0f} ms, p99 {quantile_ms(got, 0.99):.0f} ms, max "
                f"{got[-1] * 1000:.0f} ms; never: {len(watch.pending)}"
            )
        return {
            "rate": rate,
            "worker_cpu_us_per_record": round(cpu_us),
            "sessions": len(got),
            "never": len(watch.pending),
            "bill_p50_ms": round(quantile_ms(got, 0.5)) if got else None,
            "bill_p99_ms": round(quantile_ms(got, 0.99)) if got else None,
            "bill_max_ms": round(got[-1] * 1000) if got else None,
        }
    finally:
        stop_workers(workers)
        offsets.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["step", "paced"])
    parser.add_argument("--frames", type=int, default=120_000)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--rate", type=int, default=GATEWAY_RATE)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", type=Path, help="paced: also write the figures here")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        topics=Topics(prefix=f"bench-bill-{run}-"), processors_app_id=f"bench-bill-{run}"
    )
    started = time.perf_counter()
    records = asyncio.run(corpus(settings, args.frames, args.stations))
    print(
        f"corpus: {args.frames:,} frames of {args.stations} stations -> {len(records):,} "
        f"records on csms.transactions ({time.perf_counter() - started:.1f} s)"
    )
    if args.mode == "step":
        asyncio.run(step(settings, records, args.redis_url))
        Redis.from_url(args.redis_url).flushdb()
        return
    try:
        figures = paced(settings, records, args.redis_url, args.rate, args.seconds)
        if args.json:
            args.json.write_text(json.dumps(figures))
    finally:
        cleanup(settings, args.redis_url)


if __name__ == "__main__":
    main()
