"""The processors for real, when the input is not a tidy session: a bad envelope on ocpp.frames
does not stop the worker, and a session lost in a station's reboot is closed by the zombie policy
through csms.policy, back into the read model and onto csms.transactions."""

from __future__ import annotations

import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from csms.infra import redis_keys as keys
from csms.infra.kafka import ensure_topics, make_producer
from tests.stack import processors_worker
from tests.stack.kafka_reader import publish_frames
from tests.stack.processors_worker import KAFKA, Outputs, Worker, cleanup, get_json, until
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    start16,
    start16_result,
    status16,
    status201,
)

pytestmark = pytest.mark.stack
# The processors worker's fixtures, which pytest finds by their names in this module.
worker = processors_worker.worker
outputs = processors_worker.outputs
redis = processors_worker.redis


async def test_a_bad_envelope_does_not_stop_the_processors(
    worker: Worker, outputs: Outputs, redis: Redis
) -> None:
    station = f"CPBAD-{uuid.uuid4().hex[:6]}"
    s = Session(station, "ocpp2.0.1")
    good = s.call("StatusNotification", status201(1, 1, "Faulted", T0))
    weird = s.call("TransactionEvent", {"eventType": "Started", "transactionInfo": [1, 2]})
    try:
        await ensure_topics(worker.settings)
        producer = make_producer(worker.settings, client_id="test-processors-bad")
        await producer.start()
        try:
            for value in [b"not json", b'{"v": 2}', weird.encode(), good.encode()]:
                await producer.send_and_wait(
                    worker.settings.topics.frames, value, key=station.encode()
                )
        finally:
            await producer.stop()

        async def status_written() -> bool:
            raw = await redis.hget(keys.station_connectors(station), "1/1")
            return raw is not None and orjson.loads(raw)["status"] == "Faulted"

        await until("the good frame after the bad ones", status_written, worker)
        assert worker.proc.poll() is None
        assert await worker.stop() == 0, worker.log()
    finally:
        await cleanup(redis, [station])


async def test_a_session_lost_in_a_reboot_is_closed_by_policy_through_kafka(
    worker: Worker, outputs: Outputs, redis: Redis
) -> None:
    """Start a 1.6 session, reboot the station, say nothing more: the worker's zombie sweep
    (grace 1 s here) publishes a CloseTransaction on csms.policy, the transactions agent folds
    it back, and the read model and csms.transactions show the transaction closed by policy."""
    station = f"CPZ-{uuid.uuid4().hex[:6]}"
    tx_id = int(uuid.uuid4().int % 900_000) + 100_000
    key = f"{station}/{tx_id}"
    s = Session(station, "ocpp1.6", conn=f"conn-{uuid.uuid4().hex[:6]}", gw="gw-test")
    start = s.call("StartTransaction", start16(1, "TAG-Z", 5_000, T0))
    envs = [
        s.connect(),
        start,
        s.result(start, start16_result(tx_id)),
        s.call("StatusNotification", status16(1, "Charging", ts=T0 + 1_000)),
        s.call("BootNotification", boot16(serial=f"SN-{station}")),
    ]
    # The policy's clock is the frames' (never the wall clock alone): another station's
    # heartbeat, received 10 s after the reboot, moves it past the 1 s grace.
    other = Session(f"{station}-B", "ocpp2.0.1", gw="gw-test", t0=envs[-1].ts + 10_000)
    envs.append(other.call("Heartbeat", {}))
    try:
        await publish_frames(worker.settings, client_id="test-processors", envs=envs)

        async def closed() -> bool:
            tx = await get_json(redis, keys.transaction(key)) or {}
            return tx.get("state") == "ended"

        await until("the policy close", closed, worker)
        tx = await get_json(redis, keys.transaction(key))
        assert (tx["stop_reason"], tx["policy_reason"], tx["boot_ms"]) == (
            "StationRebooted",
            "StationRebooted",
            envs[-2].ts,
        )
        assert not await redis.sismember(keys.station_active_transactions(station), key)
        assert await redis.zscore(keys.ACTIVE_TRANSACTIONS, key) is None

        async def published() -> bool:
            return any(
                t.get("key") == key and t.get("closed_by") == "policy" for t in outputs.transactions
            )

        await until("the closed snapshot", published, worker)
        final = [t for t in outputs.transactions if t.get("key") == key][-1]
        assert "closed_by_policy" in final["flags"] and "rebooted" in final["flags"]
        # The decision itself is on csms.policy, where a replay finds it.
        consumer = AIOKafkaConsumer(
            worker.settings.topics.policy,
            bootstrap_servers=KAFKA,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=5_000)
        finally:
            await consumer.stop()
        decisions = [orjson.loads(m.value or b"{}") for msgs in batch.values() for m in msgs]
        mine = [d for d in decisions if d["station"] == station]
        assert [(d["kind"], d["action"], orjson.loads(d["frame"])) for d in mine][:1] == [
            (
                "policy",
                "CloseTransaction",
                {"transaction_id": str(tx_id), "reason": "StationRebooted"},
            )
        ]
    finally:
        await cleanup(redis, [station, other.station])
