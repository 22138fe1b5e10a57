"""A realistic network's frames for the benchmarks and lag probes: 1.6 and 2.0.1 stations
charging (boot, statuses, sessions with a meter value a minute, heartbeats), interleaved as a
network sends them, produced to a run's own topics, and the run's topics, group and Redis DB
removed afterwards. Used by the processor and analytics lag probes and by `benchmarks/`."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from redis import Redis

from csms.infra.kafka import producer_config
from csms.settings import Settings

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
    size = 0

    def records() -> Iterator[tuple[bytes, bytes]]:  # streamed: a million frames stay lazy
        nonlocal size
        for station, value in interleaved([Station(i, run) for i in range(stations)], frames):
            size += len(value)
            yield station.id.encode(), value

    seconds = produce_records(settings, records(), client_id="replay-bench")
    return size, seconds


def produce_records(
    settings: Settings, records: Iterable[tuple[bytes, bytes]], *, client_id: str
) -> float:
    """Publish (key, envelope) records on the frames topic as fast as Kafka takes them, every
    one acknowledged; seconds taken."""
    config = producer_config(settings, client_id=client_id)
    config.update(
        {"linger.ms": 50, "batch.size": 1024 * 1024, "queue.buffering.max.messages": 1_000_000}
    )
    producer = Producer(config)
    topic = settings.topics.frames
    started = time.monotonic()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(300):
        raise RuntimeError("frames not acknowledged by Kafka")
    return time.monotonic() - started


def cleanup(settings: Settings, redis_url: str) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(settings.topics.prefix)]
    if mine:  # a retry (the group was not empty yet) finds them gone
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()
    groups = [
        settings.processors_app_id,
        settings.processors_billing_group,
        settings.processors_faust_app_id,
    ]
    for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:  # a group that never formed (no billing input) is fine
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
    Redis.from_url(redis_url).flushdb()
