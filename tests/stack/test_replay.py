"""`csms replay --from-beginning` for real: the processors (a `csms processors` worker) fold a
corpus of 1.6 and 2.0.1 sessions (duplicates, out-of-order events, a transaction the zombie
policy closes through csms.policy) on the local Kafka into Redis DB 8; the replay, run as the
CLI after they stopped and the read model was damaged, rebuilds exactly the live read model,
republishes the same outputs, and leaves the processors' group at the end of the input topics.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka.admin import AdminClient
from redis.asyncio import Redis

from csms.envelope import FrameEnvelope
from csms.infra import redis_keys as keys
from csms.infra.redis_dump import snapshot
from csms.readmodels.tariffs import RedisTariffs as TariffStore
from csms.settings import Settings, Topics
from loadtests.processes import ServiceProcess, csms_argv
from services.replay import kafka_io
from services.replay.kafka_io import Span
from tests.stack.kafka_reader import publish_frames
from tests.stack.processors_worker import DEADLINE_S, Worker, _free_port
from tests.unit.domain.builders import T0, Session, status201, transaction_event
from tests.unit.replay.corpus import corpus

pytestmark = pytest.mark.stack

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
REDIS_URL = os.environ.get("CSMS_TEST_REPLAY_STACK_REDIS_URL", "redis://127.0.0.1:6379/8")
Output = tuple[str, bytes, bytes]  # topic, key, value
CH_TABLES = ("transactions", "status_events", "transaction_events", "bills")


@dataclass
class Run:
    settings: Settings
    env: dict[str, str]
    tmp: Path
    redis: Redis

    def start_processors(self, name: str) -> Worker:
        return Worker.start(self.settings, self.env, self.tmp / f"{name}.log")

    async def replay(self, *options: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            csms_argv("replay", "--from-beginning", *options),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )

    def start_sink(self) -> Sink:
        """`csms analytics` on a chDB folder of its own, serving ClickHouse HTTP on a free port."""
        port = _free_port()
        env = {
            **self.env,
            "CLICKHOUSE_URL": f"chdb://{self.tmp / 'clickhouse'}",
            "CLICKHOUSE_HTTP_PORT": str(port),
            "ANALYTICS_GROUP_ID": f"{self.settings.processors_app_id}-analytics",
            "ANALYTICS_BATCH_SECONDS": "0.1",
        }
        process = ServiceProcess(csms_argv("analytics"), env, self.tmp / "analytics.log")
        return Sink(process.start(), port, env["ANALYTICS_GROUP_ID"])

    async def sink_caught_up(self, sink: Sink) -> bool:
        """The sink committed every record of its topics (its rows are in ClickHouse)."""
        topics = self.settings.topics
        spans = self.spans(topics.frames, topics.transactions, topics.status)
        offsets = await asyncio.to_thread(kafka_io.committed, self.settings, sink.group, spans)
        return all(s.count == 0 or offsets[(s.topic, s.partition)] == s.high for s in spans)

    def spans(self, *topics: str) -> list[Span]:
        return kafka_io.capture_spans(self.settings, list(topics))

    def inputs(self) -> list[Span]:
        return self.spans(self.settings.topics.frames, self.settings.topics.policy)

    def outputs(self, spans: list[Span]) -> list[Output]:
        return [
            (r.topic.removeprefix(self.settings.topics.prefix), r.key, r.value)
            for batch in kafka_io.read_spans(self.settings, spans)
            for r in batch
        ]

    def committed_at_end(self) -> bool:
        group = self.settings.processors_app_id
        spans = self.inputs()
        offsets = kafka_io.committed(self.settings, group, spans)
        return all(s.count == 0 or offsets[(s.topic, s.partition)] == s.high for s in spans)


@dataclass
class Sink:
    process: ServiceProcess
    port: int
    group: str

    def log(self) -> str:
        return self.process.log_tail(8000)

    async def tables(self) -> dict[str, list[str]]:
        """What an analyst reads: each results table FINAL, as JSON lines in a stable order."""
        found: dict[str, list[str]] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            for table in CH_TABLES:
                sql = f"SELECT * FROM {table} FINAL FORMAT JSONEachRow"
                reply = await http.post(f"http://127.0.0.1:{self.port}/", content=sql)
                assert reply.status_code == 200, reply.text
                found[table] = sorted(reply.text.splitlines())
        return found

    async def stop(self) -> None:
        await self.process.stop_async(DEADLINE_S)


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    run_id = uuid.uuid4().hex[:8]
    prefix = f"test-replay-{run_id}-"
    app_id = f"csms-processors-test-replay-{run_id}"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": KAFKA,
        "CSMS_TOPIC_PREFIX": prefix,
        "REDIS_URL": REDIS_URL,
        "PROCESSORS_APP_ID": app_id,
        "TX_SWEEP_INTERVAL_S": "2",  # the zombie policy closes the open transaction quickly
        "CSMS_LOG_LEVEL": "WARNING",
    }
    settings = Settings(
        kafka_bootstrap=KAFKA,
        topics=Topics(prefix=prefix),
        redis_url=REDIS_URL,
        processors_app_id=app_id,
    )
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    await redis.flushdb()
    try:
        yield Run(settings, env, tmp_path, redis)
    finally:
        await redis.flushdb()
        await redis.aclose()
        await _delete_topics(prefix, app_id)


async def _delete_topics(prefix: str, app_id: str) -> None:
    """This run's topics (ours and faust's internal ones) and consumer groups."""
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith((prefix, app_id))]
        if mine:
            await admin.delete_topics(mine)
        groups = [g for g, *_ in await admin.list_consumer_groups() if g.startswith(app_id)]
    finally:
        await admin.close()
    if groups:
        deleting = AdminClient({"bootstrap.servers": KAFKA, "log_level": 4})
        for future in deleting.delete_consumer_groups(groups, request_timeout=30).values():
            await asyncio.to_thread(future.result, 60)


def zombie_session(station: str) -> list[FrameEnvelope]:
    """A 2.0.1 transaction that is never ended: silent for long, the policy closes it. The
    policy's clock is the frames' (ADR 0012): another station's heartbeat 49 h later moves it
    past TX_ZOMBIE_AFTER_S (48 h)."""
    s = Session(station, "ocpp2.0.1", conn=f"{station}-c1", gw="gw-replay")
    later = Session(f"{station}-later", "ocpp2.0.1", gw="gw-replay", t0=T0 + 49 * 3_600_000)
    return [
        s.connect(),
        s.call("StatusNotification", status201(1, 1, "Occupied", T0)),
        s.call(
            "TransactionEvent",
            transaction_event("Started", "zombie-1", 0, T0, trigger="CablePluggedIn", evse=(1, 1)),
        ),
        later.call("Heartbeat", {}),
    ]


async def _until(what: str, check: Callable[[], Awaitable[bool]], worker: Worker | Sink) -> None:
    for _ in range(int(DEADLINE_S / 0.5)):
        if await check():
            return
        process = worker.process
        if (code := process.returncode) is not None:
            pytest.fail(f"{process.argv!r} exited ({code}):\n{worker.log()}")
        await asyncio.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{worker.log()}")


async def _tx(redis: Redis, key: str) -> dict[str, Any]:
    raw = await redis.get(keys.transaction(key))
    return {} if raw is None else dict(orjson.loads(raw))


async def test_replay_rebuilds_the_live_read_model_and_outputs(run: Run) -> None:
    tag = uuid.uuid4().hex[:6]
    envs = corpus(tag, stations=2) + zombie_session(f"CPZ-{tag}")
    redis = run.redis
    # Keys the replay must never touch (operator decisions, ids that must not repeat).
    await redis.set(keys.TX16_SEQUENCE, "700001")
    await redis.hset(keys.registration(f"CP16-{tag}-0"), mapping={"status": "Accepted"})
    # A network default tariff (operator configuration, never wiped): every session is billed.
    tariffs = TariffStore(redis)
    await tariffs.create({"id": "replay", "currency": "EUR", "energy_per_kwh": "0.40"}, 0)
    await tariffs.assign("default", tariff_id="replay", now_ms=0)

    await publish_frames(run.settings, client_id="test-replay", envs=envs)
    sink = run.start_sink()
    try:
        await _check(run, sink, envs, tag)
    finally:
        await sink.stop()


async def _check(run: Run, sink: Sink, envs: list[FrameEnvelope], tag: str) -> None:
    redis, settings = run.redis, run.settings

    # --- live: the processors fold the corpus, the analytics sink archives their outputs -------
    live_worker = run.start_processors("live")
    ended = [f"CP16-{tag}-0/700000", f"CP201-{tag}-1/tx-{tag}-1", f"CPZ-{tag}/zombie-1"]

    async def live_complete() -> bool:
        states = [(await _tx(redis, k)).get("state") for k in ended]
        bills = [await redis.get(keys.bill(k)) for k in ended]  # the downstream billing
        billed = all(b and '"final_sig"' in b for b in bills)
        return states == ["ended"] * 3 and billed and await asyncio.to_thread(run.committed_at_end)

    await _until("the live read model", live_complete, live_worker)
    # The replay's workers find a policy record's station by the producers' partitioner.
    frame_spans = run.spans(settings.topics.frames)
    for span in frame_spans:
        records = await asyncio.to_thread(run.outputs, [span])
        found = {kafka_io.partition_of(key, len(frame_spans)) for _, key, _ in records}
        assert found <= {span.partition}
    policy_spans = run.spans(settings.topics.policy)
    assert sum(s.count for s in policy_spans) == 1, "the zombie close is on csms.policy"
    assert (await _tx(redis, f"CPZ-{tag}/zombie-1"))["policy_reason"]
    live = await snapshot(redis)
    assert {k.split(":")[1] for k in live} >= {
        *("tx", "txs", "station", "stations", "dm", "inf16", "bill")
    }
    await _until("the sink", lambda: run.sink_caught_up(sink), sink)
    live_tables = await sink.tables()
    assert all(live_tables.values()), live_tables

    # --- the replay refuses while the processors run --------------------------------------------
    refused = await run.replay()
    assert refused.returncode == 2, refused.stderr
    assert "stop the processors first" in refused.stderr
    assert await snapshot(redis) == live

    assert await live_worker.stop() == 0, live_worker.log()
    out_topics = (settings.topics.transactions, settings.topics.status, settings.topics.bills)
    before = run.spans(*out_topics)
    live_outputs = await asyncio.to_thread(run.outputs, before)
    assert {t for t, _, _ in live_outputs} == {"csms.transactions", "csms.status", "csms.bills"}

    # --- damage the read model, then replay (in 2 worker processes, then in 1) -----------------
    after = before
    for workers in (2, 1):
        some_tx = next(k for k in live if k.startswith("csms:tx:"))
        await redis.delete(some_tx, keys.station_connectors(f"CP201-{tag}-0"))
        await redis.set(keys.transaction(f"CP16-{tag}-1/700001"), "{not json")
        await redis.hset(keys.station(f"CP16-{tag}-0"), "online", "maybe")
        await redis.set(keys.transaction("stale/1"), "{}")
        replayed = await run.replay("--workers", str(workers))
        assert replayed.returncode == 0, replayed.stderr
        assert f"{len(envs)} frames folded" in replayed.stdout, replayed.stdout

        assert await snapshot(redis) == live
        assert await redis.get(keys.TX16_SEQUENCE) == "700001"
        assert await redis.hgetall(keys.registration(f"CP16-{tag}-0")) == {"status": "Accepted"}
        previous, after = after, run.spans(*out_topics)
        again = [_since(a, p) for a, p in zip(after, previous, strict=True)]
        replay_outputs = await asyncio.to_thread(run.outputs, again)
        assert set(replay_outputs) == set(live_outputs)
        assert await asyncio.to_thread(run.committed_at_end)
        # ClickHouse converges: the republished rows replace themselves (ReplacingMergeTree).
        await _until("the sink", lambda: run.sink_caught_up(sink), sink)
        assert await sink.tables() == live_tables

    # --- restarted processors resume at the end: nothing old is folded or published again -------
    restarted = run.start_processors("restarted")
    s = Session(f"CPNEW-{tag}", "ocpp2.0.1", conn="c-new", gw="gw-replay")
    await publish_frames(
        settings,
        client_id="test-replay",
        envs=[s.call("StatusNotification", status201(1, 1, "Faulted", T0))],
    )

    async def sentinel_folded() -> bool:
        folded = await redis.hget(keys.station_connectors(f"CPNEW-{tag}"), "1/1") is not None
        return folded and await asyncio.to_thread(run.committed_at_end)

    await _until("the sentinel", sentinel_folded, restarted)
    assert await restarted.stop() == 0, restarted.log()
    newest = run.spans(*out_topics)
    published = await asyncio.to_thread(
        run.outputs, [_since(n, a) for n, a in zip(newest, after, strict=True)]
    )
    assert {key for _, key, _ in published} == {f"CPNEW-{tag}".encode()}
    rebuilt = await snapshot(redis)
    assert {k for k in live if rebuilt.get(k) != live[k]} == {keys.STATIONS}  # + the sentinel


def _since(now: Span, then: Span) -> Span:
    """The records of a partition written between two captures."""
    return Span(now.topic, now.partition, then.high, now.high)


def test_replay_needs_from_beginning() -> None:
    done = subprocess.run(
        csms_argv("replay"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--from-beginning" in done.stderr
