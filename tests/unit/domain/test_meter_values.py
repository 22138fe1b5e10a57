from __future__ import annotations

from typing import Any

import orjson
import pytest

from csms.domain.frames import parse_ts
from csms.domain.meter_values import flatten
from csms.domain.model import MeterSample
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    T0,
    Session,
    meter_values16,
    meter_values201,
    mv16,
    mv201,
    start16,
    stop16,
    sv16,
    sv201,
    transaction_event,
)

# The inputs of the tests below, named.
EXPLICIT_16 = Session("CP-16").call(
    "MeterValues",
    meter_values16(
        2,
        mv16(
            T0 + 60_000,
            sv16("1234.5"),
            sv16(
                "7.2",
                measurand="Power.Active.Import",
                unit="kW",
                context="Sample.Clock",
                phase="L1-N",
                location="Inlet",
            ),
        ),
        mv16(T0 + 120_000, sv16("1300")),
        transaction_id=17,
    ),
)


def test_16_meter_values_with_defaults_and_explicit_fields() -> None:
    env = EXPLICIT_16
    rows = flatten(env)

    assert rows == [
        MeterSample(
            ts_ms=T0 + 60_000,
            station="CP-16",
            evse=2,
            connector=1,
            transaction_id="17",
            measurand="Energy.Active.Import.Register",
            phase="",
            location="Outlet",
            unit="Wh",
            value=1234.5,
            context="Sample.Periodic",
            proto="ocpp1.6",
            event_id=env.id,
            sample_index=0,
        ),
        MeterSample(
            ts_ms=T0 + 60_000,
            station="CP-16",
            evse=2,
            connector=1,
            transaction_id="17",
            measurand="Power.Active.Import",
            phase="L1-N",
            location="Inlet",
            unit="kW",
            value=7.2,
            context="Sample.Clock",
            proto="ocpp1.6",
            event_id=env.id,
            sample_index=1,
        ),
        MeterSample(
            ts_ms=T0 + 120_000,
            station="CP-16",
            evse=2,
            connector=1,
            transaction_id="17",
            measurand="Energy.Active.Import.Register",
            phase="",
            location="Outlet",
            unit="Wh",
            value=1300.0,
            context="Sample.Periodic",
            proto="ocpp1.6",
            event_id=env.id,
            sample_index=2,
        ),
    ]


STATION_16 = Session().call(
    "MeterValues", meter_values16(0, mv16(T0, sv16("230", measurand="Voltage", unit="V")))
)


def test_16_connector_zero_is_the_station_and_transaction_id_is_optional() -> None:
    [row] = flatten(STATION_16)

    assert (row.evse, row.connector, row.transaction_id) == (0, 0, "")
    assert (row.measurand, row.unit, row.value) == ("Voltage", "V", 230.0)


SKIPPED_16 = Session().call(
    "MeterValues",
    meter_values16(
        1,
        mv16(
            T0,
            sv16("0A1B2C3D", format="SignedData"),
            sv16("12345", format="SignedData"),  # all digits, still a signature
            sv16("nan"),
            sv16("inf"),
            sv16("1_000"),
            sv16(""),
            {"value": 42},  # a number where 1.6 says string
            sv16(" 500 ", format="Raw"),
        ),
    ),
)


def test_16_signed_and_non_numeric_values_are_skipped_and_indexes_stay_dense() -> None:
    rows = flatten(SKIPPED_16)

    assert [(r.value, r.sample_index) for r in rows] == [(500.0, 0)]


TIMESTAMP_CASES = [
    ("2025-03-01T08:00:00Z", T0),
    ("2025-03-01T10:00:00+02:00", T0),
    ("2025-03-01T03:30:00.250-04:30", T0 + 250),
    ("2025-03-01T08:00:00.123456789Z", T0 + 123),
    ("2025-03-01T08:00:00", T0),  # no offset: UTC
    ("yesterday", None),  # unparseable: the envelope's time
    ("", None),
]


@pytest.mark.parametrize(("timestamp", "expected"), TIMESTAMP_CASES)
def test_timestamps_of_any_offset_become_epoch_ms(timestamp: str, expected: int | None) -> None:
    env = Session().call("MeterValues", meter_values16(1, mv16(timestamp, sv16("1"))))

    [row] = flatten(env)

    assert row.ts_ms == (env.ts if expected is None else expected)


STOP_DATA_16 = Session().call(
    "StopTransaction",
    stop16(
        42,
        15_000,
        T0 + 3_600_000,
        transaction_data=[
            mv16(T0, sv16("10000", context="Transaction.Begin")),
            mv16(T0 + 3_600_000, sv16("15", unit="kWh", context="Transaction.End")),
        ],
    ),
)


def test_16_stop_transaction_data_carries_the_transaction_id() -> None:
    rows = flatten(STOP_DATA_16)

    assert [(r.transaction_id, r.evse, r.connector) for r in rows] == [("42", 0, 0)] * 2
    assert [(r.context, r.unit, r.value) for r in rows] == [
        ("Transaction.Begin", "Wh", 10000.0),
        ("Transaction.End", "kWh", 15.0),
    ]


START_16 = Session().call("StartTransaction", start16(1, "TAG", 100, T0))
STOP_16 = Session().call("StopTransaction", stop16(1, 200, T0))


def test_16_start_and_stop_without_data_give_no_rows() -> None:
    assert flatten(START_16) == []
    assert flatten(STOP_16) == []


MULTIPLIER_201 = Session("CP-2", "ocpp2.0.1").call(
    "MeterValues",
    meter_values201(
        1,
        mv201(
            T0,
            sv201(12.5, unit="kWh", multiplier=3),  # 12.5 * 10^3 kWh
            sv201(123, measurand="Current.Import", unit="A", multiplier=-1, phase="L2"),
            sv201(4500.0),
        ),
    ),
)


def test_201_meter_values_apply_the_multiplier_and_unit_defaults() -> None:
    rows = flatten(MULTIPLIER_201)

    assert [(r.measurand, r.unit, r.value, r.phase) for r in rows] == [
        ("Energy.Active.Import.Register", "kWh", 12500.0, ""),
        ("Current.Import", "A", 12.3, "L2"),
        ("Energy.Active.Import.Register", "Wh", 4500.0, ""),
    ]
    assert {(r.evse, r.connector, r.transaction_id, r.proto) for r in rows} == {
        (1, 0, "", "ocpp2.0.1")
    }
    assert [r.sample_index for r in rows] == [0, 1, 2]


EVENT_201 = Session("CP-2", "ocpp2.0.1").call(
    "TransactionEvent",
    transaction_event(
        "Updated",
        "tx-abc",
        3,
        T0 + 5_000,
        evse=(2, 1),
        meter_values=[
            mv201(
                T0 + 5_000,
                sv201(2.5, unit="kWh"),
                sv201(11000, measurand="Power.Active.Import", unit="W"),
            )
        ],
    ),
)


def test_201_transaction_event_meter_values_carry_evse_connector_and_transaction() -> None:
    rows = flatten(EVENT_201)

    assert [(r.evse, r.connector, r.transaction_id) for r in rows] == [(2, 1, "tx-abc")] * 2
    assert [r.value for r in rows] == [2.5, 11000.0]


EVENT_21 = Session("CP-21", "ocpp2.1").call(
    "TransactionEvent",
    transaction_event("Updated", "t-1", 1, T0, meter_values=[mv201(T0, sv201(1.0))]),
)


def test_21_is_flattened_like_201_and_a_missing_evse_is_zero() -> None:
    [row] = flatten(EVENT_21)

    assert (row.evse, row.connector, row.transaction_id, row.proto) == (0, 0, "t-1", "ocpp2.1")


_S = Session()
ACCEPTED_CALL = _S.call("MeterValues", meter_values16(1, mv16(T0, sv16("5"))))
NOT_FLATTENED = [
    _S.call("MeterValues", meter_values16(1, mv16(T0, sv16("5"))), err="FormationViolation"),
    _S.result(ACCEPTED_CALL, {}),
    _S.connect(),
    # A 2.x action name in a 1.6 session (and the reverse) is not guessed at.
    _S.call("TransactionEvent", transaction_event("Updated", "x", 1, T0)),
    Session(proto="ocpp2.0.1").call(
        "StopTransaction", stop16(1, 1, T0, transaction_data=[mv16(T0, sv16("1"))])
    ),
    Session(proto="ocpp9").call("MeterValues", meter_values16(1, mv16(T0, sv16("1")))),
]


def test_only_accepted_inbound_calls_are_flattened() -> None:
    assert len(flatten(ACCEPTED_CALL)) == 1
    for env in NOT_FLATTENED:
        assert flatten(env) == [], env


def _raw(frame: str, proto: str = "ocpp1.6") -> FrameEnvelope:
    return FrameEnvelope(
        id="e",
        ts=T0,
        station="S",
        gw="g",
        conn="c",
        proto=proto,
        dir="in",
        kind="call",
        uid="1",
        action="MeterValues",
        frame=frame,
    )


WEIRD_PAYLOADS: list[Any] = [
    {},
    {"connectorId": "1", "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "1"}]}]},
    {"connectorId": -1, "meterValue": []},
    {"connectorId": True, "meterValue": []},
    {"connectorId": 1, "meterValue": None},
    {"connectorId": 1, "meterValue": "x"},
    {"connectorId": 1, "meterValue": [None, 1, "a", []]},
    {"connectorId": 1, "meterValue": [{"sampledValue": {"value": "1"}}]},
    {
        "connectorId": 1,
        "meterValue": [{"timestamp": 5, "sampledValue": [None, 3, {"value": None}]}],
    },
    {"evseId": 1, "meterValue": [{"timestamp": "x", "sampledValue": [{"value": "1"}]}]},
    {
        "evseId": 1,
        "meterValue": [{"sampledValue": [{"value": 1, "unitOfMeasure": {"multiplier": 400}}]}],
    },
    {
        "evseId": 1,
        "meterValue": [{"sampledValue": [{"value": 1e308, "unitOfMeasure": {"multiplier": 22}}]}],
    },
    {
        "evseId": 1,
        "meterValue": [{"sampledValue": [{"value": 1, "unitOfMeasure": {"multiplier": "3"}}]}],
    },
    {"evseId": 1, "meterValue": [{"sampledValue": [{"value": 1, "unitOfMeasure": "kWh"}]}]},
    {
        "evseId": 1,
        "meterValue": [{"timestamp": "9999-12-31T23:59:59-23:59", "sampledValue": [{"value": 1}]}],
    },
]


@pytest.mark.parametrize("payload", WEIRD_PAYLOADS)
@pytest.mark.parametrize("proto", ["ocpp1.6", "ocpp2.0.1"])
def test_weird_payloads_never_raise(payload: Any, proto: str) -> None:
    rows = flatten(_raw(orjson.dumps([2, "1", "MeterValues", payload]).decode(), proto))
    assert all(isinstance(r, MeterSample) for r in rows)
    assert all(r.value == r.value and abs(r.value) != float("inf") for r in rows)


BROKEN_FRAMES = [
    "",
    "not json",
    "{}",
    "[]",
    "[2]",
    '[2, "1", "MeterValues"]',
    '[2, "1", 5, {}]',
    '[3, "1", {}]',
    '[2, "1", "MeterValues", []]',
]


@pytest.mark.parametrize("frame", BROKEN_FRAMES)
def test_broken_frames_give_no_rows(frame: str) -> None:
    assert flatten(_raw(frame)) == []


def test_201_weird_but_valid_rows_keep_what_can_be_read() -> None:
    payload = {
        "evseId": 3,
        "meterValue": [
            {
                "timestamp": "garbage",
                "sampledValue": [{"value": 7}, {"value": "8"}, {"value": 9, "unitOfMeasure": {}}],
            },
        ],
    }
    rows = flatten(_raw(orjson.dumps([2, "1", "MeterValues", payload]).decode(), "ocpp2.0.1"))
    assert [(r.value, r.unit, r.ts_ms, r.sample_index) for r in rows] == [
        (7.0, "Wh", T0, 0),
        (9.0, "Wh", T0, 1),
    ]


def test_epoch_milliseconds_as_text_are_no_timestamp() -> None:
    """Python's fromisoformat reads compact forms: "1740011481445" would be the year 1740.
    OCPP timestamps are RFC 3339 (extended form); anything else falls back to the receive time."""
    assert parse_ts("1740011481445", 5) == 5
    assert parse_ts("20250301T090000Z", 5) == 5
    assert parse_ts("2025-03-01T09:00:00Z", 5) == 1_740_819_600_000


# Every input above that flattens (or deliberately does not), for the parity test.
DOMAIN_CASES = [
    EXPLICIT_16,
    STATION_16,
    SKIPPED_16,
    STOP_DATA_16,
    START_16,
    STOP_16,
    MULTIPLIER_201,
    EVENT_201,
    EVENT_21,
    ACCEPTED_CALL,
    *NOT_FLATTENED,
]
