"""Kafka events -> ClickHouse rows (pure)."""

from __future__ import annotations

from dataclasses import asdict, replace

import orjson
import pytest

from csms.domain import transactions as txp
from csms.domain.model import ConnectorStatus, MeterSample, Transaction
from csms.envelope import FrameEnvelope
from services.analytics.rows import (
    METER_VALUES,
    OCPP_FRAMES,
    STATUS_EVENTS,
    TABLES,
    TRANSACTIONS,
    route_frame,
    route_status,
    route_transaction,
)
from tests.unit.domain.builders import (
    T0,
    Session,
    meter_values16,
    mv16,
    mv201,
    sv16,
    sv201,
    transaction_event,
)


def _sample(env: FrameEnvelope, **kw: object) -> MeterSample:
    base: dict[str, object] = {
        "ts_ms": T0, "station": env.station, "evse": 1, "connector": 1, "transaction_id": "",
        "measurand": "Voltage", "phase": "", "location": "Outlet", "unit": "V", "value": 230.0,
        "context": "Sample.Periodic", "proto": env.proto, "event_id": env.id, "sample_index": 0,
    }  # fmt: skip
    base.update(kw)
    return MeterSample(**base)  # type: ignore[arg-type]


def test_table_columns_match_the_row_builders() -> None:
    assert [t.name for t in TABLES] == [
        "ocpp_frames", "meter_values", "transactions", "status_events", "transaction_events",
        "bills",
    ]  # fmt: skip
    assert len(OCPP_FRAMES.columns) == 13
    assert len(METER_VALUES.columns) == 14
    assert len(TRANSACTIONS.columns) == 24
    assert len(STATUS_EVENTS.columns) == 8


def test_ocpp16_meter_values_archive_row_and_samples() -> None:
    s = Session("CP-1", "ocpp1.6")
    env = s.call(
        "MeterValues",
        meter_values16(
            1,
            mv16(
                T0, sv16("1500.5"), sv16("16.2", measurand="Current.Import", unit="A", phase="L1")
            ),
            transaction_id=42,
        ),
    )
    routed = route_frame(env.encode())
    assert routed.problem == ""
    assert routed.rows[OCPP_FRAMES.name] == [
        (env.id, env.ts, "CP-1", "gw-0", "conn-1", "ocpp1.6", "in", "call", env.uid,
         "MeterValues", env.frame, "", ""),
    ]  # fmt: skip
    assert routed.rows[METER_VALUES.name] == [
        (T0, "CP-1", 1, 1, "42", "Energy.Active.Import.Register", "", "Outlet", "Wh", 1500.5,
         "Sample.Periodic", "ocpp1.6", env.id, 0),
        (T0, "CP-1", 1, 1, "42", "Current.Import", "L1", "Outlet", "A", 16.2,
         "Sample.Periodic", "ocpp1.6", env.id, 1),
    ]  # fmt: skip
    assert routed.row_count == 3


def test_ocpp201_transaction_event_samples_apply_the_multiplier() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    payload = transaction_event(
        "Updated", "TX-9", 1, T0 + 60_000, evse=(2, 1),
        meter_values=[mv201(T0 + 60_000, sv201(12.5, unit="kWh"),
                            sv201(74, measurand="Power.Active.Import", unit="W", multiplier=2))],
    )  # fmt: skip
    env = s.call("TransactionEvent", payload)
    routed = route_frame(env.encode())
    assert routed.rows[METER_VALUES.name] == [
        (T0 + 60_000, "CP-2", 2, 1, "TX-9", "Energy.Active.Import.Register", "", "Outlet", "kWh",
         12.5, "Sample.Periodic", "ocpp2.0.1", env.id, 0),
        (T0 + 60_000, "CP-2", 2, 1, "TX-9", "Power.Active.Import", "", "Outlet", "W", 7400.0,
         "Sample.Periodic", "ocpp2.0.1", env.id, 1),
    ]  # fmt: skip


def test_connect_event_and_results_are_archived_without_samples() -> None:
    s = Session("CP-3")
    connect = s.connect()
    routed = route_frame(connect.encode())
    assert routed.problem == ""
    assert list(routed.rows) == [OCPP_FRAMES.name]
    assert routed.rows[OCPP_FRAMES.name][0][:8] == (
        connect.id, connect.ts, "CP-3", "gw-0", "conn-1", "ocpp1.6", "in", "connect",
    )  # fmt: skip


def test_rejected_frame_is_archived_with_its_error_flag() -> None:
    s = Session("CP-3")
    env = s.call("MeterValues", {"connectorId": "x"}, err="FormationViolation")
    routed = route_frame(env.encode())
    assert routed.rows[OCPP_FRAMES.name][0][-2:] == ("FormationViolation", "")
    assert METER_VALUES.name not in routed.rows


def test_leniently_accepted_frame_is_archived_with_its_flag() -> None:
    s = Session("CP-3")
    env = replace(s.call("Heartbeat", {}), flag="ConcurrentCall")
    routed = route_frame(env.encode())
    assert routed.rows[OCPP_FRAMES.name][0][-2:] == ("", "ConcurrentCall")


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1,2]", b'{"v":1}', orjson.dumps({"v": 2, "id": "x"}), None],
)
def test_bad_envelope_is_skipped_with_a_reason(raw: bytes | None) -> None:
    routed = route_frame(raw)
    assert routed.rows == {}
    assert routed.problem in {"bad_envelope", "empty_value"}
    assert routed.detail


def test_envelope_with_impossible_timestamp_is_a_bad_envelope() -> None:
    env = Session("CP-1").connect()
    raw = orjson.dumps({**env.to_dict(), "ts": -5})
    assert route_frame(raw).problem == "bad_envelope"


def test_flatten_failure_still_archives_the_frame() -> None:
    def broken(env: FrameEnvelope) -> list[MeterSample]:
        raise KeyError("boom")

    env = Session().call("MeterValues", meter_values16(1, mv16(T0, sv16("1"))))
    routed = route_frame(env.encode(), flatten_fn=broken)
    assert routed.problem == "flatten_failed"
    assert "KeyError" in routed.detail
    assert list(routed.rows) == [OCPP_FRAMES.name]


def test_a_sample_that_does_not_fit_its_column_is_dropped_alone() -> None:
    env = Session().call("MeterValues", meter_values16(1, mv16(T0, sv16("1"))))

    def stand_in(e: FrameEnvelope) -> list[MeterSample]:
        return [
            _sample(e, sample_index=0),
            _sample(e, sample_index=1, evse=-1),
            _sample(e, sample_index=2, value=float("nan")),
            _sample(e, sample_index=3, ts_ms=2**70),
            _sample(e, sample_index=4, value="12"),
            _sample(e, sample_index=5, connector=2**32),
        ]

    routed = route_frame(env.encode(), flatten_fn=stand_in)
    assert routed.problem == "bad_sample"
    assert [row[-1] for row in routed.rows[METER_VALUES.name]] == [0]


def test_transaction_snapshot_row() -> None:
    tx = Transaction(
        key="CP-1/42", station="CP-1", transaction_id="42", proto="ocpp1.6", evse=1,
        connector=1, id_token="TAG1", state="ended", started_ms=T0, ended_ms=T0 + 3_600_000,
        meter_start_wh=1000.0, meter_stop_wh=12000.0, meter_start_ms=T0 + 1,
        meter_stop_ms=T0 + 3_599_000, energy_wh=11000.0, stop_reason="Local",
        updated_ms=T0 + 3_600_001,
    )  # fmt: skip
    routed = route_transaction(orjson.dumps(tx.to_dict()))
    assert routed.problem == ""
    assert routed.rows == {
        TRANSACTIONS.name: [
            ("CP-1/42", "CP-1", "42", "ocpp1.6", 1, 1, "TAG1", "ended", T0, T0 + 3_600_000,
             1000.0, 12000.0, T0 + 1, T0 + 3_599_000, 11000.0, "Local", T0 + 3_600_001,
             "", "", 0, "", "", [], 0),
        ]
    }  # fmt: skip


def test_transaction_snapshot_with_the_2x_fields_and_derived_views() -> None:
    tx = Transaction(
        key="CP-2/t", station="CP-2", transaction_id="t", proto="ocpp2.0.1", state="ended",
        charging_state="Idle", trigger_reason="EVDeparted", offline=True, remote_start_uid="c-1",
        state_changes=[[T0, "Charging"], [T0 + 60_000, "SuspendedEV"], [T0 + 90_000, "Idle"]],
        stops=[[T0 + 120_000, None]], ended_ms=T0 + 120_000, updated_ms=T0 + 120_001,
        started_seen=True,
    )  # fmt: skip
    row = route_transaction(orjson.dumps(txp.snapshot(tx))).rows[TRANSACTIONS.name][0]
    assert row[17:] == ("Idle", "EVDeparted", 1, "c-1", "station", ["offline", "remote_start"],
                        60_000)  # fmt: skip


def test_neutral_and_inferred_events_go_to_transaction_events() -> None:
    native = {"type": "event", "id": "S/t/seq3", "station": "S", "proto": "ocpp2.0.1", "evse": 1,
              "connector": 1, "transaction_id": "t", "event_type": "Updated",
              "trigger_reason": "ChargingStateChanged", "charging_state": "Charging",
              "ts_ms": T0, "seq_no": 3, "offline": False, "id_token": "",
              "inferred": False}  # fmt: skip
    inferred = {**native, "id": "ev-1/1/CablePluggedIn", "proto": "ocpp1.6", "seq_no": None,
                "transaction_id": "", "event_type": "", "trigger_reason": "CablePluggedIn",
                "inferred": True}  # fmt: skip
    rows = [route_transaction(orjson.dumps(d)).rows for d in (native, inferred)]
    assert [list(r) for r in rows] == [["transaction_events"]] * 2
    assert rows[0]["transaction_events"][0][9:12] == (3, 0, 0)
    assert rows[1]["transaction_events"][0][5:12] == (
        "",
        "",
        "CablePluggedIn",
        "Charging",
        None,
        0,
        1,
    )
    assert (
        route_transaction(orjson.dumps({**native, "ts_ms": "x"})).problem
        == "bad_transaction_events"
    )


def test_transaction_defaults_and_nullable_meter_readings() -> None:
    raw = orjson.dumps({"key": "S/1", "station": "S", "transaction_id": "1", "proto": "ocpp2.0.1"})
    assert route_transaction(raw).rows[TRANSACTIONS.name] == [
        ("S/1", "S", "1", "ocpp2.0.1", 0, 0, "", "active", 0, 0, None, None, 0, 0, 0.0, "", 0,
         "", "", 0, "", "", [], 0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        orjson.dumps({"station": "S", "transaction_id": "1", "proto": "p"}),
        orjson.dumps({"key": "k", "station": "S", "transaction_id": 1, "proto": "p"}),
        orjson.dumps({"key": "k", "station": "S", "transaction_id": "1", "proto": "p",
                      "energy_wh": "12"}),
        None,
    ],
)  # fmt: skip
def test_bad_transaction_snapshot(raw: bytes | None) -> None:
    routed = route_transaction(raw)
    assert routed.rows == {}
    assert routed.problem == "bad_transactions"


def test_status_row() -> None:
    status = ConnectorStatus("CP-1", 1, 1, "Occupied", "NoError", T0, "ocpp1.6", "ev-1")
    routed = route_status(orjson.dumps(asdict(status)))
    assert routed.rows == {
        STATUS_EVENTS.name: [(T0, "CP-1", 1, 1, "Occupied", "NoError", "ocpp1.6", "ev-1")]
    }


def test_bad_status() -> None:
    status = asdict(ConnectorStatus("CP-1", 1, 1, "Occupied", "NoError", T0, "ocpp1.6", "ev-1"))
    del status["event_id"]
    routed = route_status(orjson.dumps(status))
    assert (routed.rows, routed.problem) == ({}, "bad_status_events")
    assert "event_id" in routed.detail
