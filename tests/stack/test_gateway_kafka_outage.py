"""Kafka stops in the middle of load and comes back: nothing the gateway acknowledged is lost or
duplicated, nothing is acknowledged that Kafka did not store, and the gateway stays bounded.

Runs its own Kafka (deploy/local/stack.sh with private ports and state folder, wiped at the end)
and its own gateway process (port 19700, Redis DB 9, a unique topic prefix). ~20 chargers send
MeterValues one CALL at a time (as OCPP 1.6 wants) with globally unique message ids and record
every answer; Kafka is stopped for a few seconds and started again while they keep going; then
the topic is read from the beginning and compared with what the chargers were told.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from csms.envelope import decode
from loadtests.faults.infra import PrivateInfra
from services.gateway.publisher import DEFAULT_MAX_INFLIGHT

pytestmark = pytest.mark.stack

KAFKA_PORT = 29192  # its controller on the next port
GATEWAY_PORT = 19700
REDIS_URL = "redis://127.0.0.1:6379/9"
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
CHARGERS = 20
PACE_S = 0.1  # per charger, under the gateway's per-station rate limit
ANSWER_TIMEOUT_S = 60.0  # a charger waits this long for an answer, then reconnects
LOAD_BEFORE_S = 3.0
OUTAGE_S = 4.0
LOAD_AFTER_S = 3.0


@dataclass
class Ledger:
    """What the chargers sent and were told, keyed by their globally unique message id."""

    sent: dict[str, float] = field(default_factory=dict)  # uid -> time sent
    results: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)  # uid -> CALLERROR code
    closes: Counter[int] = field(default_factory=Counter)  # close codes seen by chargers
    unanswered: set[str] = field(default_factory=set)


@dataclass
class Samples:
    inflight: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)


# -- private Kafka ----------------------------------------------------------------------------


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateInfra]:
    infra = PrivateInfra(tmp_path / "kafka-state", KAFKA_PORT)  # its Redis is never started
    try:
        infra.stack("start", "kafka")
        yield infra
    finally:
        infra.wipe()


# -- gateway process --------------------------------------------------------------------------


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    log: Path
    prefix: str

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def gateway(private_kafka: PrivateInfra, tmp_path: Path) -> Iterator[Gateway]:
    prefix = f"outage-{uuid.uuid4().hex[:8]}."
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": BOOTSTRAP,
        "GATEWAY_PORT": str(GATEWAY_PORT),
        "GATEWAY_ID": "gw-outage",
        "CSMS_TOPIC_PREFIX": prefix,
        "REDIS_URL": REDIS_URL,
        "CSMS_LOCAL_DIR": str(tmp_path / "csms"),
    }
    redis.Redis.from_url(REDIS_URL).flushdb()
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "gateway"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gw = Gateway(proc, log, prefix)
    try:
        _wait_healthy(gw)
        yield gw
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        redis.Redis.from_url(REDIS_URL).flushdb()  # registrations of this run's stations


def _wait_healthy(gw: Gateway) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            raise RuntimeError(f"gateway exited ({gw.proc.returncode}):\n{gw.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{GATEWAY_PORT}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"gateway not healthy in time:\n{gw.tail()}")


# -- chargers ---------------------------------------------------------------------------------


def _meter_values(uid: str, n: int) -> str:
    payload = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [{"value": str(n), "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    return orjson.dumps([2, uid, "MeterValues", payload]).decode()


def _record(ledger: Ledger, raw: str | bytes) -> str | None:
    msg = orjson.loads(raw)
    uid = str(msg[1])
    if msg[0] == 3:
        ledger.results.add(uid)
    elif msg[0] == 4:
        ledger.errors[uid] = str(msg[2])
    ledger.unanswered.discard(uid)
    return uid


async def _connect(station: str) -> ClientConnection:
    return await connect(
        f"ws://127.0.0.1:{GATEWAY_PORT}/ocpp/{station}",
        subprotocols=[Subprotocol("ocpp1.6")],
        open_timeout=5,
        compression=None,
    )


async def _charger(station: str, ledger: Ledger, stop: asyncio.Event) -> None:
    n = 0
    ws: ClientConnection | None = None
    try:
        while not stop.is_set():
            if ws is None:
                try:
                    ws = await _connect(station)
                except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed):
                    await asyncio.sleep(0.5)
                    continue
            n += 1
            uid = f"{station}-{n}"
            ledger.sent[uid] = time.monotonic()
            ledger.unanswered.add(uid)
            try:
                await ws.send(_meter_values(uid, n))
                async with asyncio.timeout(ANSWER_TIMEOUT_S):
                    while _record(ledger, await ws.recv()) != uid:
                        pass
            except ConnectionClosed as closed:
                ledger.closes[closed.rcvd.code if closed.rcvd else 1006] += 1
                ws = None
                continue
            except TimeoutError:
                await ws.close()
                ws = None
                continue
            await asyncio.sleep(PACE_S)
    finally:
        if ws is not None:
            await ws.close()


# -- observation ------------------------------------------------------------------------------


def _inflight() -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{GATEWAY_PORT}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    m = re.search(r"^csms_gateway_kafka_inflight ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(m.group(1)) if m else 0


async def _watch(pid: int, samples: Samples, stop: asyncio.Event) -> None:
    while not stop.is_set():
        value = await asyncio.to_thread(_inflight)
        if value is not None:
            samples.inflight.append(value)
        with contextlib.suppress(OSError):
            samples.rss_kb.append(_rss_kb(pid))
        await asyncio.sleep(0.2)


async def _read_calls(topic: str) -> Counter[str]:
    """Every inbound MeterValues CALL on the topic, counted by message id."""
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"topic {topic} not found: {described}"
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        calls: Counter[str] = Counter()
        async with asyncio.timeout(60):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                batch = await consumer.getmany(*partitions, timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        assert record.value is not None
                        env = decode(record.value)
                        if env.dir == "in" and env.kind == "call" and env.action == "MeterValues":
                            calls[env.uid] += 1
        return calls
    finally:
        await consumer.stop()


async def _heartbeat(station: str) -> list[object]:
    async with await _connect(station) as ws:
        await ws.send(orjson.dumps([2, "hb-1", "Heartbeat", {}]).decode())
        async with asyncio.timeout(30):
            answer: list[object] = orjson.loads(await ws.recv())
            return answer


async def _wait_inflight_zero() -> float | None:
    value: float | None = None
    for _ in range(100):
        if (value := await asyncio.to_thread(_inflight)) == 0:
            break
        await asyncio.sleep(0.2)
    return value


# -- the test ---------------------------------------------------------------------------------


async def test_acknowledged_calls_survive_a_kafka_restart_exactly_once(
    gateway: Gateway, private_kafka: PrivateInfra
) -> None:
    ledger, samples = Ledger(), Samples()
    stop_load, stop_watch = asyncio.Event(), asyncio.Event()
    run = uuid.uuid4().hex[:6]
    watcher = asyncio.create_task(_watch(gateway.proc.pid, samples, stop_watch))
    chargers = [
        asyncio.create_task(_charger(f"OUT{run}-{i:02d}", ledger, stop_load))
        for i in range(CHARGERS)
    ]
    await asyncio.sleep(LOAD_BEFORE_S)
    rss_before = max(samples.rss_kb, default=0)
    answered_before_outage = len(ledger.results)

    t0 = time.monotonic()
    await asyncio.to_thread(private_kafka.stack, "stop", "kafka")
    print(f"kafka stopped in {time.monotonic() - t0:.1f}s, {len(ledger.results)} answered")
    outage_started = len(samples.inflight)
    await asyncio.sleep(OUTAGE_S)
    await asyncio.to_thread(private_kafka.stack, "start", "kafka")  # load keeps running
    outage_ended = len(samples.inflight)
    kafka_back = time.monotonic()
    print(f"kafka back after {kafka_back - t0:.1f}s, {len(ledger.results)} answered")
    await asyncio.sleep(LOAD_AFTER_S)

    stop_load.set()
    await asyncio.wait_for(asyncio.gather(*chargers), ANSWER_TIMEOUT_S + 30)
    assert await _wait_inflight_zero() == 0, "in-flight gauge must return to 0 once all acked"
    stop_watch.set()
    await watcher

    # The gateway survived and serves new connections now that Kafka is back.
    assert gateway.proc.poll() is None, gateway.tail()
    answer = await _heartbeat(f"OUT{run}-new")
    assert answer[0] == 3 and answer[1] == "hb-1", answer

    calls = await _read_calls(f"{gateway.prefix}ocpp.frames")
    told = f"sent {len(ledger.sent)}, results {len(ledger.results)}, errors {ledger.errors}, "
    told += f"closes {dict(ledger.closes)}, unanswered {len(ledger.unanswered)}"
    print(f"load done after {time.monotonic() - t0:.1f}s; {len(calls)} calls in Kafka; {told}")

    # The load really ran through the outage, and went on once Kafka was back.
    assert answered_before_outage > 0, told
    assert any(ledger.sent[uid] > kafka_back for uid in ledger.results), told
    during = samples.inflight[outage_started:outage_ended]
    assert during and max(during) > 0, "frames must have been waiting for Kafka during the outage"

    # Every CALL a charger got a CALLRESULT for is in Kafka exactly once; none is missing.
    missing = sorted(uid for uid in ledger.results if calls[uid] == 0)
    assert not missing, f"acknowledged but not in Kafka: {missing[:10]} ({told})"
    duplicated = sorted(uid for uid in ledger.results if calls[uid] > 1)
    assert not duplicated, f"acknowledged and stored twice: {duplicated[:10]} ({told})"
    # Nothing was stored twice at all (idempotent retries), answered or not.
    assert not [uid for uid, count in calls.items() if count > 1], told
    # A charger was told either CALLRESULT or InternalError for a CALL, never both.
    assert not ledger.results & set(ledger.errors), told
    assert set(ledger.errors.values()) <= {"InternalError"}, told
    # A closing gateway says 1011 (or the socket just dropped): never a normal "done" close.
    assert set(ledger.closes) <= {1011, 1006}, told

    # Bounded: the in-flight gauge never exceeded the gateway's bound, nor what ~20 one-at-a-time
    # chargers can have pending (their CALL + answer + connect/disconnect events, pipeline window).
    assert max(samples.inflight) <= DEFAULT_MAX_INFLIGHT
    assert max(samples.inflight) <= CHARGERS * (16 + 3), max(samples.inflight)
    assert max(samples.rss_kb) <= rss_before + 200 * 1024, (rss_before, max(samples.rss_kb))
