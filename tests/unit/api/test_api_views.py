"""Pure projections from read-model records to response models: what Redis holds, decoded by
the read models' codecs (csms.readmodels), as the API shows it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

import orjson

from csms.domain.model import ConnectorStatus, Transaction
from csms.readmodels.base import parse_ms
from csms.readmodels.stations import StationRecord, decode_connectors, decode_station
from csms.readmodels.transactions import decode_transaction
from services.api.schemas import (
    EvseView,
    StationDetail,
    StationStatus,
    StationSummary,
    TransactionView,
)
from services.api.views import connector_tree as tree_of
from services.api.views import iso_ms
from services.api.views import station_detail as detail_of
from services.api.views import station_summary as summary_of
from services.api.views import transaction_view as view_of


# The hash fields and JSON texts as Redis holds them, through the read models' decoders.
def station_summary(station_id: str, fields: Mapping[str, str]) -> StationSummary:
    state = decode_station(station_id, fields)
    return summary_of(StationRecord(station_id, state).facts)


def connector_tree(fields: Mapping[str, str]) -> tuple[StationStatus | None, list[EvseView]]:
    return tree_of(decode_connectors("CP-1", fields))


def station_detail(
    station_id: str, fields: Mapping[str, str], connectors: Mapping[str, str]
) -> StationDetail:
    state = decode_station(station_id, fields)
    return detail_of(
        StationRecord(station_id, state, tuple(decode_connectors(station_id, connectors)))
    )


def transaction_view(raw: str) -> TransactionView | None:
    tx = decode_transaction(raw)
    return None if tx is None else view_of(tx)


def _status(evse: int, connector: int, status: str, ts_ms: int) -> str:
    cs = ConnectorStatus("CP-1", evse, connector, status, "NoError", ts_ms, "ocpp1.6", "e1")
    return orjson.dumps(asdict(cs)).decode()


def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(1_738_324_800_123) == "2025-01-31T12:00:00.123Z"
    assert iso_ms(1_738_324_800_000) == "2025-01-31T12:00:00.000Z"
    # 0 is the model's "never happened" (e.g. ended_ms of an active transaction)
    assert iso_ms(0) is None
    assert iso_ms(None) is None
    assert iso_ms(10**20) is None  # corrupt: past year 9999


def test_iso_ms_does_not_round_milliseconds() -> None:
    # a float division would turn some of these into .xx8 or .xx0
    for ms in range(1_738_324_800_000, 1_738_324_800_999, 7):
        assert iso_ms(ms) == f"2025-01-31T12:00:00.{ms % 1000:03d}Z"


def test_parse_ms_accepts_hash_and_json_forms() -> None:
    assert parse_ms("1738324800123") == 1_738_324_800_123
    assert parse_ms("1.7383248e12") == 1_738_324_800_000
    assert parse_ms(1_738_324_800_123) == 1_738_324_800_123
    assert parse_ms(1_738_324_800_123.0) == 1_738_324_800_123
    for bad in (None, "", "soon", True, [1], "nan"):
        assert parse_ms(bad) is None


def test_station_summary_maps_missing_values_to_null() -> None:
    summary = station_summary("CP-1", {"protocol": "ocpp1.6", "online": "1", "vendor": ""})
    assert summary.model_dump() == {
        "id": "CP-1",
        "protocol": "ocpp1.6",
        "online": True,
        "last_seen": None,
        "vendor": None,
        "model": None,
        "firmware": None,
        "registration_status": None,  # filled from the registry by the route
    }
    assert station_summary("CP-2", {}).online is False


def test_connector_tree_orders_and_separates_station_status() -> None:
    station_status, evses = connector_tree(
        {
            "2/1": _status(2, 1, "Occupied", 3000),
            "0/0": _status(0, 0, "Available", 1000),
            "1/2": _status(1, 2, "Faulted", 2500),
            "1/1": _status(1, 1, "Available", 2000),
        }
    )
    assert station_status is not None
    assert station_status.status == "Available"
    assert station_status.updated == "1970-01-01T00:00:01.000Z"
    assert [e.evse_id for e in evses] == [1, 2]
    assert [(c.connector_id, c.status) for c in evses[0].connectors] == [
        (1, "Available"),
        (2, "Faulted"),
    ]
    assert evses[1].connectors[0].updated == "1970-01-01T00:00:03.000Z"


def test_connector_tree_skips_malformed_entries_and_falls_back_to_field_ids() -> None:
    _, evses = connector_tree(
        {
            "1/1": "{not json",
            "2/1": '["a list"]',
            "x/y": '{"status": "Available"}',
            "3/1": '{"status": "Occupied", "ts_ms": 5000}',  # ids from the field name
        }
    )
    assert len(evses) == 1
    assert evses[0].evse_id == 3
    assert evses[0].connectors[0].status == "Occupied"
    assert evses[0].connectors[0].updated == "1970-01-01T00:00:05.000Z"


def test_station_detail_maps_hash_fields() -> None:
    detail = station_detail(
        "CP-1",
        {"gateway": "gw-1", "conn": "c-9", "connected_ts": "1000", "disconnected_ts": ""},
        {},
    )
    assert detail.gateway == "gw-1"
    assert detail.connection_id == "c-9"
    assert detail.connected_at == "1970-01-01T00:00:01.000Z"
    assert detail.disconnected_at is None
    assert detail.station_status is None
    assert detail.evses == []


def test_transaction_view_from_domain_json() -> None:
    tx = Transaction(
        key="CP-1/7",
        station="CP-1",
        transaction_id="7",
        proto="ocpp1.6",
        evse=1,
        connector=1,
        id_token="TAG",
        state="ended",
        started_ms=1000,
        ended_ms=61_000,
        meter_start_wh=100.0,
        meter_stop_wh=1100.5,
        energy_wh=1000.5,
        stop_reason="Local",
        updated_ms=61_000,
        charging_state="EVConnected",
        trigger_reason="EVCommunicationLost",
        remote_start_uid="cmd-1",
        state_changes=[[2000, "Charging"], [50_000, "EVConnected"]],
        stops=[[61_000, 1100.5]],
        started_seen=True,
    )
    view = transaction_view(orjson.dumps(tx.to_dict()).decode())
    assert view is not None
    assert view.model_dump() == {
        "charging_state": "EVConnected",
        "trigger_reason": "EVCommunicationLost",
        "offline": False,
        "remote_start_id": None,
        "remote_start_uid": "cmd-1",
        "closed_by": "station",
        "flags": ["remote_start"],
        "charging_periods": [
            {
                "state": "Charging",
                "start": "1970-01-01T00:00:02.000Z",
                "end": "1970-01-01T00:00:50.000Z",
            },
            {
                "state": "EVConnected",
                "start": "1970-01-01T00:00:50.000Z",
                "end": "1970-01-01T00:01:01.000Z",
            },
        ],
        "missing_seq_nos": [],
        "transaction_id": "7",
        "station": "CP-1",
        "proto": "ocpp1.6",
        "evse": 1,
        "connector": 1,
        "id_token": "TAG",
        "state": "ended",
        "started": "1970-01-01T00:00:01.000Z",
        "ended": "1970-01-01T00:01:01.000Z",
        "meter_start_wh": 100.0,
        "meter_stop_wh": 1100.5,
        "energy_wh": 1000.5,
        "stop_reason": "Local",
        "updated": "1970-01-01T00:01:01.000Z",
    }


def test_transaction_view_active_has_no_end() -> None:
    tx = Transaction(key="CP-1/a", station="CP-1", transaction_id="a", proto="ocpp2.0.1")
    view = transaction_view(orjson.dumps(tx.to_dict()).decode())
    assert view is not None
    assert (view.state, view.ended, view.meter_stop_wh, view.stop_reason) == (
        "active",
        None,
        None,
        None,
    )


def test_transaction_view_rejects_malformed_json() -> None:
    assert transaction_view("nope") is None
    assert transaction_view("[]") is None
    assert transaction_view('{"station": "CP-1"}') is None
