"""The processors for real: the faust worker in its own process against the local Kafka and
Redis, fed a 1.6 and a 2.0.1 charging session as the gateway would publish them; the read models
in Redis and the snapshots on csms.transactions / csms.status are checked exactly, and a
redelivery of the same frames regresses nothing."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from csms.envelope import FrameEnvelope
from csms.infra import redis_keys as keys
from tests.stack import processors_worker
from tests.stack.kafka_reader import publish_frames
from tests.stack.processors_worker import Outputs, Worker, cleanup, get_json, until
from tests.unit.domain.builders import (
    CORE_TX_FIELDS,
    T0,
    Session,
    boot16,
    boot201,
    meter_values16,
    mv16,
    mv201,
    start16,
    start16_result,
    status16,
    status201,
    stop16,
    sv16,
    sv201,
    transaction_event,
)

pytestmark = pytest.mark.stack
# The processors worker's fixtures, which pytest finds by their names in this module.
worker = processors_worker.worker
outputs = processors_worker.outputs
redis = processors_worker.redis

MIN = 60_000
CORE = (*CORE_TX_FIELDS, "last_event_id")


def session16(station: str, tx_id: int) -> tuple[Session, list[FrameEnvelope]]:
    s = Session(station, "ocpp1.6", conn=f"conn-{uuid.uuid4().hex[:6]}", gw="gw-test")
    start = s.call("StartTransaction", start16(1, "04E1F2A3", 120_000, T0 + MIN))
    envs = [
        s.connect(),
        s.call("BootNotification", boot16(serial=f"SN-{station}")),
        s.call("StatusNotification", status16(0, "Available")),
        s.call("StatusNotification", status16(1, "Preparing", ts=T0 + MIN // 2)),
        start,
        s.result(start, start16_result(tx_id)),
        s.call("StatusNotification", status16(1, "Charging", ts=T0 + MIN)),
        s.call(
            "MeterValues",
            meter_values16(
                1,
                mv16(
                    T0 + 16 * MIN,
                    sv16("123.4", unit="kWh"),
                    sv16("7400", measurand="Power.Active.Import", unit="W"),
                ),
                transaction_id=tx_id,
            ),
        ),
        s.call(
            "StopTransaction",
            stop16(tx_id, 131_250, T0 + 61 * MIN, reason="EVDisconnected", id_tag="04E1F2A3"),
        ),
        s.call("StatusNotification", status16(1, "Finishing", ts=T0 + 61 * MIN)),
        s.disconnect(),
    ]
    return s, envs


def session201(station: str) -> tuple[Session, list[FrameEnvelope]]:
    s = Session(station, "ocpp2.0.1", conn=f"conn-{uuid.uuid4().hex[:6]}", gw="gw-test")
    envs = [
        s.connect(),
        s.call("BootNotification", boot201(serial=f"SN-{station}")),
        s.call("StatusNotification", status201(1, 1, "Occupied", T0)),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Started",
                "b1e2-0001",
                0,
                T0,
                trigger="CablePluggedIn",
                evse=(1, 1),
                meter_values=[mv201(T0, sv201(52.25, unit="kWh", context="Transaction.Begin"))],
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Updated", "b1e2-0001", 1, T0 + 10_000, trigger="Authorized", id_token="AABBCCDD"
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Updated",
                "b1e2-0001",
                2,
                T0 + 20 * MIN,
                meter_values=[mv201(T0 + 20 * MIN, sv201(55_000, unit="Wh"))],
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Ended",
                "b1e2-0001",
                3,
                T0 + 45 * MIN,
                trigger="StopAuthorized",
                stopped_reason="Local",
                meter_values=[
                    mv201(
                        T0 + 45 * MIN,
                        sv201(5_825, unit="Wh", multiplier=1, context="Transaction.End"),
                    )
                ],
            ),
        ),
        s.call("StatusNotification", status201(1, 1, "Available", T0 + 46 * MIN)),
    ]
    return s, envs


async def test_processors_project_16_and_201_sessions(
    worker: Worker, outputs: Outputs, redis: Redis
) -> None:
    run = uuid.uuid4().hex[:6]
    st16, st201 = f"CP16-{run}", f"CP201-{run}"
    tx16 = int(uuid.uuid4().int % 900_000) + 100_000
    s16, envs16 = session16(st16, tx16)
    s201, envs201 = session201(st201)
    key16, key201 = f"{st16}/{tx16}", f"{st201}/b1e2-0001"
    try:
        await publish_frames(worker.settings, client_id="test-processors", envs=envs16 + envs201)

        async def read_models_done() -> bool:
            tx_a = await get_json(redis, keys.transaction(key16)) or {}
            tx_b = await get_json(redis, keys.transaction(key201)) or {}
            connector = await redis.hget(keys.station_connectors(st201), "1/1")
            return (
                await redis.hget(keys.station(st16), "online") == "0"
                and (tx_a.get("state"), tx_b.get("state")) == ("ended", "ended")
                and connector is not None
                and orjson.loads(connector)["status"] == "Available"
            )

        await until("both sessions in Redis", read_models_done, worker)

        # --- 1.6: the station, its connectors and the transaction --------------------------
        connect16, boot16_env, disconnect16 = envs16[0], envs16[1], envs16[-1]
        assert await redis.hgetall(keys.station(st16)) == {
            "protocol": "ocpp1.6",
            "online": "0",
            "last_seen": str(envs16[-2].ts),
            "gateway": "gw-test",
            "conn": s16.conn,
            "vendor": "Alfen BV",
            "model": "NG920",
            "firmware": "5.8.1",
            "serial": f"SN-{st16}",
            "boot_ts": str(boot16_env.ts),
            "connected_ts": str(connect16.ts),
            "disconnected_ts": str(disconnect16.ts),
        }
        connectors16 = {
            f: orjson.loads(v)
            for f, v in (await redis.hgetall(keys.station_connectors(st16))).items()
        }
        assert {f: (c["status"], c["error_code"]) for f, c in connectors16.items()} == {
            "0/0": ("Available", "NoError"),
            "1/1": ("Finishing", "NoError"),
        }
        assert connectors16["1/1"]["ts_ms"] == T0 + 61 * MIN
        assert connectors16["0/0"]["ts_ms"] == envs16[2].ts  # no timestamp sent: receive time

        tx16_json = await get_json(redis, keys.transaction(key16))
        assert {k: tx16_json[k] for k in CORE} == {
            "key": key16,
            "station": st16,
            "transaction_id": str(tx16),
            "proto": "ocpp1.6",
            "evse": 1,
            "connector": 1,
            "id_token": "04E1F2A3",
            "state": "ended",
            "started_ms": T0 + MIN,
            "ended_ms": T0 + 61 * MIN,
            "meter_start_wh": 120_000.0,
            "meter_stop_wh": 131_250.0,
            "meter_start_ms": T0 + MIN,
            "meter_stop_ms": T0 + 61 * MIN,
            "energy_wh": 11_250.0,
            "stop_reason": "EVDisconnected",
            "updated_ms": envs16[8].ts,
            "last_event_id": envs16[8].id,
        }
        assert (tx16_json["charging_state"], tx16_json["trigger_reason"]) == (
            "Charging",
            "EVCommunicationLost",
        )
        assert (tx16_json["started_seen"], tx16_json["stops"]) == (
            True,
            [[T0 + 61 * MIN, 131_250.0]],
        )
        assert await redis.zscore(keys.station_transactions(st16), key16) == T0 + MIN
        assert await redis.zscore(keys.TRANSACTIONS, key16) == T0 + MIN
        start_uid = envs16[4].uid
        assert await redis.exists(keys.pending_call(st16, s16.conn, start_uid)) == 0

        # --- 2.0.1 ------------------------------------------------------------------------
        station201 = await redis.hgetall(keys.station(st201))
        assert {k: station201[k] for k in ("protocol", "online", "vendor", "model", "serial")} == {
            "protocol": "ocpp2.0.1",
            "online": "1",
            "vendor": "ABB",
            "model": "Terra AC",
            "serial": f"SN-{st201}",
        }
        tx201_json = await get_json(redis, keys.transaction(key201))
        assert {
            k: tx201_json[k]
            for k in (
                "evse",
                "connector",
                "id_token",
                "state",
                "started_ms",
                "ended_ms",
                "meter_start_wh",
                "meter_stop_wh",
                "energy_wh",
                "stop_reason",
            )
        } == {
            "evse": 1,
            "connector": 1,
            "id_token": "AABBCCDD",
            "state": "ended",
            "started_ms": T0,
            "ended_ms": T0 + 45 * MIN,
            "meter_start_wh": 52_250.0,
            "meter_stop_wh": 58_250.0,
            "energy_wh": 6_000.0,
            "stop_reason": "Local",
        }
        assert await redis.sismember(keys.STATIONS, st16)
        assert await redis.sismember(keys.STATIONS, st201)

        # --- the snapshots on csms.transactions and csms.status -------------------------------
        async def snapshots_done() -> bool:
            states = [(t.get("key"), t["state"]) for t in outputs.transactions if "state" in t]
            return (key16, "ended") in states and (key201, "ended") in states

        await until("transaction snapshots", snapshots_done, worker)
        snapshots = [t for t in outputs.transactions if t["type"] == "transaction"]
        mine16 = [t for t in snapshots if t["key"] == key16]
        mine201 = [t for t in snapshots if t["key"] == key201]
        # One snapshot per change: created by the CALLRESULT, the Charging status, MeterValues,
        # StopTransaction.
        assert [(t["state"], t["energy_wh"], t["charging_state"]) for t in mine16] == [
            ("active", 0.0, ""),
            ("active", 0.0, "Charging"),
            ("active", 3_400.0, "Charging"),
            ("ended", 11_250.0, "Charging"),
        ]
        assert {k: mine16[-1][k] for k in tx16_json} == tx16_json
        assert (mine16[-1]["closed_by"], mine16[-1]["flags"]) == ("station", [])
        assert [(t["state"], t["energy_wh"], t["id_token"]) for t in mine201] == [
            ("active", 0.0, ""),
            ("active", 0.0, "AABBCCDD"),
            ("active", 2_750.0, "AABBCCDD"),
            ("ended", 6_000.0, "AABBCCDD"),
        ]
        assert {k: mine201[-1][k] for k in tx201_json} == tx201_json

        # --- neutral events: 2.0.1 as sent, 1.6 inferred ------------------------------------
        async def events_done() -> bool:
            return any(
                e["type"] == "event"
                and e["station"] == st16
                and e["trigger_reason"] == "EVCommunicationLost"
                for e in outputs.transactions
            )

        await until("inferred events", events_done, worker)
        events = [e for e in outputs.transactions if e["type"] == "event"]
        native = [
            (e["seq_no"], e["trigger_reason"], e["inferred"])
            for e in events
            if e["station"] == st201
        ]
        assert native == [
            (0, "CablePluggedIn", False),
            (1, "Authorized", False),
            (2, "MeterValuePeriodic", False),
            (3, "StopAuthorized", False),
        ]
        inferred = [
            (e["trigger_reason"], e["charging_state"]) for e in events if e["station"] == st16
        ]
        assert inferred[:2] == [("CablePluggedIn", "EVConnected"), ("Authorized", "EVConnected")]
        assert ("ChargingStateChanged", "Charging") in inferred
        assert all(
            e["inferred"] and e["proto"] == "ocpp1.6" for e in events if e["station"] == st16
        )
        topics = worker.settings.topics
        assert {k for t, k in outputs.keys if t == topics.transactions} >= {
            st16.encode(),
            st201.encode(),
        }

        async def statuses_done() -> bool:
            return len([s for s in outputs.status if s["station"] in (st16, st201)]) >= 6

        await until("status snapshots", statuses_done, worker)
        statuses = [
            (s["station"], s["evse"], s["connector"], s["status"])
            for s in outputs.status
            if s["station"] in (st16, st201)
        ]
        assert [s for s in statuses if s[0] == st16] == [
            (st16, 0, 0, "Available"),
            (st16, 1, 1, "Preparing"),
            (st16, 1, 1, "Charging"),
            (st16, 1, 1, "Finishing"),
        ]
        assert [s for s in statuses if s[0] == st201] == [
            (st201, 1, 1, "Occupied"),
            (st201, 1, 1, "Available"),
        ]
        assert set(outputs.status[0]) == {
            "station",
            "evse",
            "connector",
            "status",
            "error_code",
            "ts_ms",
            "proto",
            "event_id",
        }

        # --- redelivery: the same envelopes again regress nothing; only the frames behind the
        # stored states publish them again (a crash may have lost them after the Redis write).
        before_tx, before_status = len(outputs.transactions), len(outputs.status)
        final_status = {(s["station"], s["evse"], s["connector"]): s for s in outputs.status}
        sentinel_start = s16.call("StartTransaction", start16(2, "SENTINEL", 0, T0 + 90 * MIN))
        sentinels = [
            sentinel_start,
            s16.result(sentinel_start, start16_result(tx16 + 1)),
            s16.call("StatusNotification", status16(2, "Unavailable")),
            s201.call(
                "TransactionEvent", transaction_event("Started", "sentinel", 0, T0 + 90 * MIN)
            ),
            s201.call("StatusNotification", status201(2, 1, "Unavailable", T0 + 90 * MIN)),
        ]
        await publish_frames(
            worker.settings, client_id="test-processors", envs=envs16 + envs201 + sentinels
        )

        async def sentinels_done() -> bool:
            tx_keys = {t.get("key") for t in outputs.transactions}
            status_keys = {(s["station"], s["evse"]) for s in outputs.status}
            return {f"{st16}/{tx16 + 1}", f"{st201}/sentinel"} <= tx_keys and {
                (st16, 2),
                (st201, 2),
            } <= status_keys

        await until("the sentinels", sentinels_done, worker)
        # One key, one partition, one agent: all before the sentinels has been processed and,
        # on the output topics, consumed here.
        again = [t for t in outputs.transactions[before_tx:] if t["type"] == "transaction"]
        assert sorted((t["key"] for t in again), key=str) == sorted(
            [key16, key201, f"{st16}/{tx16 + 1}", f"{st201}/sentinel"], key=str
        )
        assert [{k: t[k] for k in tx16_json} for t in again if t["key"] == key16] == [tx16_json]
        assert [{k: t[k] for k in tx201_json} for t in again if t["key"] == key201] == [tx201_json]
        assert await get_json(redis, keys.transaction(key16)) == tx16_json
        assert await get_json(redis, keys.transaction(key201)) == tx201_json
        again_status = [s for s in outputs.status[before_status:] if s["evse"] != 2]
        assert sorted(again_status, key=str) == sorted(
            [
                final_status[(st16, 0, 0)],
                final_status[(st16, 1, 1)],
                final_status[(st201, 1, 1)],
            ],
            key=str,
        )

        # --- metrics, then a graceful stop -------------------------------------------------
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{worker.web_port}/metrics")).text
        assert 'csms_processor_events_total{agent="transactions",outcome="changed"}' in metrics
        assert await worker.stop() == 0, worker.log()
    finally:
        await cleanup(redis, [st16, st201])
