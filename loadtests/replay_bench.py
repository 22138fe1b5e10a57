"""How fast `csms replay` rebuilds the read models: N realistic envelopes into a topic of their
own, then one timed replay.

    python -m loadtests.replay_bench --frames 1000000 [--workers 2] [--stations 2500]
        [--store redis]

Half the stations speak 1.6, half 2.0.1. Each boots, reports its connector, then charges
session after session: Authorize, Preparing, Start (StartTransaction / TransactionEvent
Started), Charging, a meter value every minute for an hour (MeterValues / TransactionEvent
Updated), Stop (StopTransaction / Ended), Available - every CALL with its CALLRESULT, as the
gateway records them, stations interleaved. The frames go to a `bench-replay-<id>-` prefixed
topic with librdkafka (zstd); the replay runs in this process against Redis DB 7 (override with
--redis-url) with a consumer group of its own; topics, group and the Redis DB are removed at the
end (--keep keeps them). Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import resource
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from redis import Redis
from services.replay.main import replay

from csms.infra.kafka import ensure_topics, producer_config
from csms.settings import LOCAL_STATE_DIR, Settings, Topics

T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z
MIN = 60_000
SAMPLES_PER_SESSION = 60


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class Station:
    """One station's envelopes, in the order the gateway would record them."""

    def __init__(self, index: int, run: str) -> None:
        self.id = f"BENCH-{run}-{index:06d}"
        self.proto = "ocpp1.6" if index % 2 == 0 else "ocpp2.0.1"
        self.conn = f"c-{index}"
        self.now = T0 + index * 1000
        self.uids = itertools.count(1)
        self.tx_ids = itertools.count(index * 100_000 + 1)
        self.meter_wh = random.Random(index).randint(1_000, 900_000)

    def _env(self, kind: str, direction: str, uid: str, action: str, frame: Any) -> bytes:
        self.now += 1000
        return orjson.dumps(
            {
                "v": 1,
                "id": f"{self.now:012x}{random.getrandbits(64):016x}",
                "ts": self.now,
                "station": self.id,
                "gw": "gw-bench",
                "conn": self.conn,
                "proto": self.proto,
                "dir": direction,
                "kind": kind,
                "uid": uid,
                "action": action,
                "frame": orjson.dumps(frame).decode() if frame is not None else "",
            }
        )

    def exchange(self, action: str, payload: Any, answer: Any) -> Iterator[bytes]:
        uid = f"m{next(self.uids)}"
        yield self._env("call", "in", uid, action, [2, uid, action, payload])
        yield self._env("result", "out", uid, action, [3, uid, answer])

    def status(self, status: str) -> Iterator[bytes]:
        if self.proto == "ocpp1.6":
            payload = {"connectorId": 1, "errorCode": "NoError", "status": status}
        else:
            status = {"Preparing": "Occupied", "Charging": "Occupied"}.get(status, status)
            payload = {
                "timestamp": iso(self.now),
                "connectorStatus": status,
                "evseId": 1,
                "connectorId": 1,
            }
        yield from self.exchange("StatusNotification", payload, {})

    def frames(self) -> Iterator[bytes]:
        yield self._env("connect", "in", "", "", None)
        boot: dict[str, Any]
        if self.proto == "ocpp1.6":
            boot = {"chargePointVendor": "Bench", "chargePointModel": "AC-22"}
        else:
            boot = {
                "chargingStation": {"vendorName": "Bench", "model": "AC-22"},
                "reason": "PowerUp",
            }
        answer = {"status": "Accepted", "currentTime": iso(self.now), "interval": 300}
        yield from self.exchange("BootNotification", boot, answer)
        yield from self.status("Available")
        while True:
            yield from self.session()

    def session(self) -> Iterator[bytes]:
        tag = f"TAG{self.id[-6:]}"
        accepted = {"idTagInfo": {"status": "Accepted"}}
        yield from self.exchange("Authorize", {"idTag": tag}, accepted)
        yield from self.status("Preparing")
        if self.proto == "ocpp1.6":
            yield from self.session16(tag, accepted)
        else:
            yield from self.session201(tag)
        yield from self.status("Available")

    def session16(self, tag: str, accepted: dict[str, Any]) -> Iterator[bytes]:
        tx = next(self.tx_ids)
        start = {
            "connectorId": 1,
            "idTag": tag,
            "meterStart": self.meter_wh,
            "timestamp": iso(self.now),
        }
        yield from self.exchange("StartTransaction", start, {**accepted, "transactionId": tx})
        yield from self.status("Charging")
        for _ in range(SAMPLES_PER_SESSION):
            self.now += MIN
            self.meter_wh += 180
            sampled = [
                {"value": str(self.meter_wh), "measurand": "Energy.Active.Import.Register"},
                {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
            ]
            values = {
                "connectorId": 1,
                "transactionId": tx,
                "meterValue": [{"timestamp": iso(self.now), "sampledValue": sampled}],
            }
            yield from self.exchange("MeterValues", values, {})
        stop = {"transactionId": tx, "meterStop": self.meter_wh, "timestamp": iso(self.now)}
        yield from self.exchange("StopTransaction", {**stop, "reason": "EVDisconnected"}, {})

    def session201(self, tag: str) -> Iterator[bytes]:
        tx = f"{self.id[-6:]}-{next(self.tx_ids)}"

        def event(kind: str, seq: int, trigger: str, **more: Any) -> dict[str, Any]:
            energy = {"value": self.meter_wh, "measurand": "Energy.Active.Import.Register"}
            return {
                "eventType": kind,
                "timestamp": iso(self.now),
                "triggerReason": trigger,
                "seqNo": seq,
                "transactionInfo": {"transactionId": tx, **more.pop("info", {})},
                "meterValue": [{"timestamp": iso(self.now), "sampledValue": [energy]}],
                **more,
            }

        started = event("Started", 0, "Authorized", idToken={"idToken": tag, "type": "ISO14443"})
        started["evse"] = {"id": 1, "connectorId": 1}
        yield from self.exchange("TransactionEvent", started, {})
        yield from self.status("Charging")
        for seq in range(1, SAMPLES_PER_SESSION + 1):
            self.now += MIN
            self.meter_wh += 180
            periodic = event(
                "Updated", seq, "MeterValuePeriodic", info={"chargingState": "Charging"}
            )
            yield from self.exchange("TransactionEvent", periodic, {})
        ended = event(
            "Ended", SAMPLES_PER_SESSION + 1, "EVDeparted", info={"stoppedReason": "EVDisconnected"}
        )
        yield from self.exchange("TransactionEvent", ended, {})


def interleaved(stations: list[Station], frames: int) -> Iterator[tuple[Station, bytes]]:
    """`frames` envelopes, a few of each station in turn (as a gateway interleaves them)."""
    streams = [(s, s.frames()) for s in stations]
    produced = 0
    while True:
        for station, stream in streams:
            for _ in range(4):
                if produced >= frames:
                    return
                yield station, next(stream)
                produced += 1


def produce(settings: Settings, frames: int, stations: int, run: str) -> tuple[int, float]:
    """Publish the corpus; (bytes of envelopes, seconds)."""
    config = producer_config(settings, client_id="replay-bench")
    config.update(
        {"linger.ms": 50, "batch.size": 1024 * 1024, "queue.buffering.max.messages": 1_000_000}
    )
    producer = Producer(config)
    topic = settings.topics.frames
    size, started = 0, time.monotonic()
    for station, value in interleaved([Station(i, run) for i in range(stations)], frames):
        size += len(value)
        while True:
            try:
                producer.produce(topic, value, station.id.encode())
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("frames not acknowledged by Kafka")
    return size, time.monotonic() - started


def disk_mb(prefix: str) -> str:
    """Bytes on disk of the run's topics, when the broker is the local stack's (stack.sh)."""
    data = LOCAL_STATE_DIR / "kafka" / "data"
    if not data.is_dir():
        return "n/a"
    sizes: dict[str, int] = {}
    for folder in data.iterdir():
        if folder.name.startswith(prefix):
            topic = folder.name.rsplit("-", 1)[0].removeprefix(prefix)
            size = sum(f.stat().st_size for f in folder.glob("*.log"))  # indexes are sparse
            sizes[topic] = sizes.get(topic, 0) + size
    return ", ".join(f"{t} {b / 1e6:.0f} MB" for t, b in sorted(sizes.items())) or "n/a"


def cleanup(settings: Settings, redis_url: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(settings.topics.prefix)]
    for future in admin.delete_topics(mine, operation_timeout=30).values():
        future.result()
    group = settings.processors_app_id
    for future in admin.delete_consumer_groups([group], request_timeout=30).values():
        future.result()
    Redis.from_url(redis_url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--stations", type=int, default=0, help="default: frames / 400")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--keep", action="store_true", help="keep topics, group and Redis DB")
    args = parser.parse_args()
    for url in (args.kafka, args.redis_url):
        if "127.0.0.1" not in url and "localhost" not in url:
            raise SystemExit(f"refusing a non-local target: {url}")
    run = uuid.uuid4().hex[:8]
    stations = args.stations or max(1, args.frames // 400)
    settings = Settings(
        kafka_bootstrap=args.kafka,
        topics=Topics(prefix=f"bench-replay-{run}-"),
        redis_url=args.redis_url,
        processors_app_id=f"bench-replay-{run}",
    )
    Redis.from_url(args.redis_url).flushdb()
    try:
        asyncio.run(ensure_topics(settings))
        size, produce_s = produce(settings, args.frames, stations, run)
        print(
            f"produced {args.frames} envelopes of {stations} stations "
            f"({size / args.frames:.0f} B each, {size / 1e6:.0f} MB) in {produce_s:.1f} s"
        )
        started = time.monotonic()
        code = asyncio.run(replay(settings, workers=args.workers, store=args.store))
        seconds = time.monotonic() - started
        peak_mb = (
            max(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            )
            / 1024
        )
        print(
            f"replay exit {code}: {args.frames} frames in {seconds:.1f} s = "
            f"{args.frames / seconds:,.0f} frames/s with {args.workers} worker(s), store "
            f"{args.store}, "
            f"on {os.cpu_count()} cores; peak RSS {peak_mb:.0f} MB"
        )
        keys = Redis.from_url(args.redis_url).dbsize()
        print(f"read model: {keys} Redis keys; Kafka on disk: {disk_mb(settings.topics.prefix)}")
    finally:
        if not args.keep:
            cleanup(settings, args.redis_url)


if __name__ == "__main__":
    main()
