"""The API reads exactly what the processors write: real envelopes folded by the processors'
projections into Redis through their own stores, then read back over the API."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from csms.envelope import FrameEnvelope, Kind, new_event_id
from csms.projections.status import project_status
from csms.projections.stores import RedisStationStore, RedisTransactionStore
from csms.projections.transactions import project_transaction
from tests.unit.api.api_seed import T0

_uids = itertools.count()


def _env(
    kind: Kind, ts: int, action: str = "", payload: dict[str, Any] | None = None
) -> FrameEnvelope:
    uid = f"u{next(_uids)}"
    frame = orjson.dumps([2, uid, action, payload]).decode() if action else ""
    return FrameEnvelope(
        id=new_event_id(ts), ts=ts, station="CP-201", gw="gw-7", conn="c-1",
        proto="ocpp2.0.1", dir="in", kind=kind, uid=uid, action=action, frame=frame,
    )  # fmt: skip


def _energy(wh: float, ts: str) -> list[dict[str, Any]]:
    sample = {"value": wh, "measurand": "Energy.Active.Import.Register"}
    return [{"timestamp": ts, "sampledValue": [sample]}]


async def _fold(redis: Redis, *envelopes: FrameEnvelope) -> None:
    stations, txs = RedisStationStore(redis), RedisTransactionStore(redis)
    for env in envelopes:
        await project_status(env, stations)
        await project_transaction(env, txs)


async def test_station_and_transaction_written_by_processors(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    boot = {
        "reason": "PowerUp",
        "chargingStation": {"vendorName": "ACME", "model": "AC22", "firmwareVersion": "4.1"},
    }
    status = {
        "timestamp": "2025-01-31T12:00:02.000Z", "connectorStatus": "Occupied",
        "evseId": 1, "connectorId": 1,
    }  # fmt: skip
    started = {
        "eventType": "Started", "timestamp": "2025-01-31T12:00:03.000Z",
        "triggerReason": "Authorized", "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-9"}, "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TOK", "type": "ISO14443"},
        "meterValue": _energy(1000, "2025-01-31T12:00:03.000Z"),
    }  # fmt: skip
    ended = {
        "eventType": "Ended", "timestamp": "2025-01-31T12:30:00.000Z",
        "triggerReason": "EVDeparted", "seqNo": 1,
        "transactionInfo": {"transactionId": "tx-9", "stoppedReason": "EVDisconnected"},
        "meterValue": _energy(8500, "2025-01-31T12:30:00.000Z"),
    }  # fmt: skip
    await _fold(
        redis,
        _env("connect", T0),
        _env("call", T0 + 1000, "BootNotification", boot),
        _env("call", T0 + 2000, "StatusNotification", status),
        _env("call", T0 + 3000, "TransactionEvent", started),
    )

    listed = (await api.get("/api/v1/stations")).json()["items"]
    assert listed == [
        {
            "id": "CP-201",
            "protocol": "ocpp2.0.1",
            "online": True,
            "last_seen": "2025-01-31T12:00:03.000Z",
            "vendor": "ACME",
            "model": "AC22",
            "firmware": "4.1",
            "registration_status": None,
        }
    ]
    detail = (await api.get("/api/v1/stations/CP-201")).json()
    assert (detail["gateway"], detail["connection_id"]) == ("gw-7", "c-1")
    assert detail["connected_at"] == "2025-01-31T12:00:00.000Z"
    assert detail["boot_time"] == "2025-01-31T12:00:01.000Z"
    assert detail["disconnected_at"] is None
    assert detail["evses"] == [
        {
            "evse_id": 1,
            "connectors": [
                {
                    "connector_id": 1,
                    "status": "Occupied",
                    "error_code": None,
                    "updated": "2025-01-31T12:00:02.000Z",
                }
            ],
        }
    ]
    active = (await api.get("/api/v1/transactions", params={"state": "active"})).json()
    assert [t["transaction_id"] for t in active["items"]] == ["tx-9"]

    await _fold(
        redis,
        _env("call", T0 + 1_800_000, "TransactionEvent", ended),
        _env("disconnect", T0 + 1_900_000),
    )
    tx = (await api.get("/api/v1/transactions/CP-201/tx-9")).json()
    assert tx == {
        "transaction_id": "tx-9",
        "station": "CP-201",
        "proto": "ocpp2.0.1",
        "evse": 1,
        "connector": 1,
        "id_token": "TOK",
        "state": "ended",
        "started": "2025-01-31T12:00:03.000Z",
        "ended": "2025-01-31T12:30:00.000Z",
        "meter_start_wh": 1000.0,
        "meter_stop_wh": 8500.0,
        "energy_wh": 7500.0,
        "stop_reason": "EVDisconnected",
        "updated": "2025-01-31T12:30:00.000Z",
        "charging_state": None,
        "trigger_reason": "EVDeparted",
        "offline": False,
        "remote_start_id": None,
        "remote_start_uid": None,
        "closed_by": "station",
        "flags": [],
        "charging_periods": [],
        "missing_seq_nos": [],
    }
    offline = (await api.get("/api/v1/stations", params={"online": "false"})).json()["items"]
    assert [s["id"] for s in offline] == ["CP-201"]
    detail = (await api.get("/api/v1/stations/CP-201")).json()
    assert detail["disconnected_at"] == "2025-01-31T12:31:40.000Z"
