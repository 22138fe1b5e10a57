"""Parity of the draft materialized view mv_meter_values_from_frames (ClickHouse flattens the
archived frames) with the sink's Python path (csms.domain.meter_values.flatten +
services.analytics.rows.meter_row, via rows.route_frame).

The frames go into ocpp_frames through the sink's own `frame_row`; meter_values, filled by the
view only, must hold exactly the rows route_frame builds for the same envelopes. Values are
compared exactly (==): ClickHouse parses decimal strings and JSON numbers correctly rounded,
like Python's float() and orjson, and the multiplier uses the same exact powers of ten.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import orjson
from loadtests.replay_bench import Station
from services.analytics.rows import METER_VALUES, OCPP_FRAMES, Row, frame_row, route_frame

from csms.envelope import FrameEnvelope, decode
from csms.infra.clickhouse import ClickHouse
from csms.infra.migrate import MIGRATIONS_DIR, split_statements
from tests.unit.domain.builders import (
    T0,
    Session,
    meter_values16,
    meter_values201,
    mv16,
    mv201,
    sv16,
    sv201,
)
from tests.unit.domain.test_meter_values import (
    ACCEPTED_CALL,
    BROKEN_FRAMES,
    DOMAIN_CASES,
    TIMESTAMP_CASES,
    WEIRD_PAYLOADS,
)

DRAFT = MIGRATIONS_DIR.parent / "migration_drafts" / "meter_values_from_frames.sql"
_SELECT = (
    "SELECT toUnixTimestamp64Milli(ts), station, evse, connector, transaction_id, measurand, "
    "phase, location, unit, value, context, proto, event_id, sample_index "
    "FROM meter_values ORDER BY event_id, sample_index"
)
_ids = itertools.count(1)


def _env(frame: str, proto: str = "ocpp1.6", **kw: Any) -> FrameEnvelope:
    """An inbound CALL envelope around a raw frame text (kw override any field)."""
    fields: dict[str, Any] = {
        "id": f"raw-{next(_ids):06d}",
        "ts": T0 + 7,
        "station": "S",
        "gw": "g",
        "conn": "c",
        "proto": proto,
        "dir": "in",
        "kind": "call",
        "uid": "1",
        "action": "MeterValues",
        "frame": frame,
    }
    fields.update(kw)
    return FrameEnvelope(**fields)


def _call(action: str, payload: Any, proto: str = "ocpp1.6") -> FrameEnvelope:
    return _env(orjson.dumps([2, "1", action, payload]).decode(), proto, action=action)


def _mv16(*sampled: Any, ts: Any = "2025-03-01T08:00:00Z", connector: Any = 1) -> FrameEnvelope:
    payload = {"connectorId": connector, "meterValue": [{"timestamp": ts, "sampledValue": sampled}]}
    return _call("MeterValues", payload)


def _mv2x(*sampled: Any, evse: Any = 1, proto: str = "ocpp2.0.1") -> FrameEnvelope:
    payload = {
        "evseId": evse,
        "meterValue": [{"timestamp": "2025-03-01T08:00:00Z", "sampledValue": sampled}],
    }
    return _call("MeterValues", payload, proto)


# -- the cases of tests/unit/domain/test_meter_values.py -------------------------------------------

TIMESTAMPS = [
    *(timestamp for timestamp, _ in TIMESTAMP_CASES),
    # beyond the domain tests: forms and ranges fromisoformat accepts or refuses
    "2025-03-01",
    "2025-03-01T08",
    "2025-03-01T08Z",
    "2025-03-01T08:00Z",
    "2025-03-01 08:00:00Z",
    "2025-03-01T08:00:00,5Z",
    "2025-03-01T08:00:00.9999999Z",
    "2025-03-01T08:00:00+0200",
    "2025-03-01T08:00:00+02",
    "2025-03-01T08:00:00-00:00",
    "2025-03-01T08:00:00.5+02:00:30.5",
    "2025-03-01T08:00:00.0125Z",  # sub-millisecond: round() half to even
    "2025-03-01T08:00:00.0005Z",
    "2025-03-01T08:00:00.0015Z",
    "2025-03-01T08:00:00.0025Z",
    "2024-02-29T12:00:00Z",
    "2025-02-29T12:00:00Z",
    "2100-02-29T12:00:00Z",
    "2000-02-29T12:00:00Z",
    "2025-04-31T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-03-01T24:00:00Z",
    "2025-03-01T08:60:00Z",
    "2025-03-01T08:00:60Z",
    "2025-03-01T08:00:00+24:00",
    "2025-03-01T08:00:00z",
    "2025-03-01Z",
    "2025-3-1T08:00:00Z",
    "2025-03-01T08:00:00+023",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",  # before the epoch: meter_row refuses the row
    "1900-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0000-01-01T00:00:00Z",
    "2299-12-31T23:59:59.999Z",
    "2300-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
]


def domain_cases() -> list[FrameEnvelope]:
    s16 = Session("CP-16")
    s2 = Session("CP-2", "ocpp2.0.1")
    envs = [
        *DOMAIN_CASES,
        *(s16.call("MeterValues", meter_values16(1, mv16(ts, sv16("1")))) for ts in TIMESTAMPS),
        *(
            s2.call(
                "MeterValues", meter_values201(1, {"timestamp": ts, "sampledValue": [{"value": 1}]})
            )
            for ts in TIMESTAMPS
        ),
        # Beyond the domain tests: what else is not an accepted inbound CALL.
        s16.answer(ACCEPTED_CALL, {"connectorId": 1, "meterValue": []}),
        s16.csms_call("MeterValues", meter_values16(1, mv16(T0, sv16("5")))),
    ]
    for proto in ("ocpp1.6", "ocpp2.0.1"):
        envs += [_call("MeterValues", payload, proto) for payload in WEIRD_PAYLOADS]
    envs += [_env(frame) for frame in BROKEN_FRAMES]
    envs.append(
        _call(
            "MeterValues",
            {
                "evseId": 3,
                "meterValue": [
                    {
                        "timestamp": "garbage",
                        "sampledValue": [
                            {"value": 7},
                            {"value": "8"},
                            {"value": 9, "unitOfMeasure": {}},
                        ],
                    }
                ],
            },
            "ocpp2.0.1",
        )
    )
    return envs


# -- further edge cases of each rule ---------------------------------------------------------------

DECIMAL_STRINGS = [
    "1e999",
    "-1e999",
    "+.5",
    "5.",
    "-0",
    "1E+05",
    "1e-5",
    "00012.50",
    ".",
    "e5",
    "1e",
    "0x10",
    "1,5",
    "- 5",
    "--5",
    " ",
    "\t5\n",
    "\x0b5\x0c",
    "5\x1c",
    "\u00a05\u2003",
    "\u20285",
    "5\x85",
    "1.7976931348623157e308",
    "2.2250738585072014e-308",
    "4.9e-324",
    "0.1000000000000000055511151231257827",
    "123456789012345678901234567890",
]


def edge_cases() -> list[FrameEnvelope]:
    envs = [_mv16({"value": v}) for v in DECIMAL_STRINGS]
    envs += [
        _mv16({"value": "1", "format": f}) for f in ("Raw", "SignedData", 5, None, "signeddata")
    ]
    envs += [
        _mv16({"value": "1", "measurand": "", "unit": 5, "phase": 7, "location": None}),
        _mv16({"value": "1", "context": "Trigger", "phase": "N", "location": "Body"}),
        _mv16({"value": "2"}, ts=5),
        _mv16({"value": "2"}, ts=None),
    ]
    for connector in (0, 1, 7, -1, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 1.0, True, "1", None):
        envs.append(_mv16({"value": "3"}, connector=connector))
    for tx in ("abc", "", 5, -5, 2**63 + 1, 1.5, True, None, {"id": 1}):
        envs.append(
            _call(
                "MeterValues",
                {"connectorId": 1, "transactionId": tx, "meterValue": [mv16(T0, sv16("1"))]},
            )
        )
        envs.append(
            _call(
                "StopTransaction",
                {"transactionId": tx, "meterStop": 1, "transactionData": [mv16(T0, sv16("1"))]},
            )
        )
        envs.append(
            _call(
                "TransactionEvent",
                {"transactionInfo": {"transactionId": tx}, "meterValue": [mv201(T0, sv201(1))]},
                "ocpp2.1",
            )
        )
    envs += [
        _call("StopTransaction", {"transactionId": 1, "transactionData": "x"}),
        _call("StopTransaction", {"transactionId": 1, "transactionData": [None, {"a": 1}]}),
        _call("StopTransaction", {"transactionId": 1, "meterValue": [mv16(T0, sv16("1"))]}),
    ]
    # Doubles of 17+ digits print as integers when ClickHouse re-serializes a sampledValue.
    big = [9.674503571767185e19, -1.5e20, 1e21, 1e16 + 2, 12345678901234567.0]
    envs += [_mv16({"value": v}) for v in big]  # numbers, not 1.6 strings: skipped
    envs += [_mv16({"value": "96745035717671850000"}), _mv16({"value": "-123456789012345678"})]
    values_2x: list[Any] = [
        0,
        -0.0,
        1e-320,
        2**53 + 1,
        2**63 + 1,
        2**64 - 1,
        -(2**63),
        1.5e308,
        True,
        None,
        "8",
        "96745035717671850000",
        [1],
        {"v": 1},
        *big,
    ]
    envs += [_mv2x({"value": v}) for v in values_2x]
    multipliers = (
        0,
        1,
        -1,
        3,
        -3,
        21,
        -21,
        22,
        -22,
        23,
        -23,
        400,
        2**64 - 1,
        3.0,
        1e20,
        2e0,
        "3",
        None,
        True,
    )
    for multiplier in multipliers:
        for value in (1, 7, 123, 0.1, 12.5, 1e300, 1e-300):
            envs.append(_mv2x({"value": value, "unitOfMeasure": {"multiplier": multiplier}}))
    envs += [
        _mv2x({"value": 1, "unitOfMeasure": {"unit": "kWh"}}),
        _mv2x({"value": 1, "unitOfMeasure": {"unit": ""}}),
        _mv2x({"value": 1, "unitOfMeasure": "kWh"}),
        _mv2x({"value": 1, "unitOfMeasure": None}),
        _mv2x({"value": 1, "unitOfMeasure": [3]}),
        _mv2x({"value": 1, "unit": "kWh"}),  # a 1.6 field in 2.x: ignored
        _mv2x({"value": 1}, proto="ocpp2.1"),
    ]
    for evse in (0, 3, -1, 2**32, 2**64 - 1, 1.0, False, "2", None):
        envs.append(_mv2x({"value": 1}, evse=evse))
        te = {"evse": {"id": evse, "connectorId": evse}, "meterValue": [mv201(T0, sv201(1))]}
        envs.append(_call("TransactionEvent", te, "ocpp2.0.1"))
    envs += [
        _call("TransactionEvent", {"evse": 3, "meterValue": [mv201(T0, sv201(1))]}, "ocpp2.0.1"),
        _call("TransactionEvent", {"evse": [1, 2], "meterValue": [mv201(T0, sv201(1))]}, "ocpp2.1"),
    ]
    payload = '{"connectorId": 1, "meterValue": [{"sampledValue": [{"value": "4"}]}]}'
    envs += [
        _env(f'[2.0, "1", "MeterValues", {payload}]'),  # 2.0 == 2 in Python
        _env(f'[2, "1", "MeterValues", {payload}, "extra"]'),
        _env(f'[true, "1", "MeterValues", {payload}]'),
        _env(f'["2", "1", "MeterValues", {payload}]'),
        _env(f'[2, 1, "MeterValues", {payload}]'),
        _env(f'[2, "1", "MeterValues", {payload}'),  # truncated
        _env(f'[2, "1", "MeterValues", {payload}]', action="Heartbeat"),  # the frame decides
        _env(f'[2, "1", "Heartbeat", {payload}]'),
        _env(f'[2, "1", "MeterValues", {payload}]', dir="out"),
        _env(f'[2, "1", "MeterValues", {payload}]', kind="result"),
        _env(f'[2, "1", "MeterValues", {payload}]', err="OccurrenceConstraintViolation"),
        _env(f' [2, "1", "MeterValues", {payload}] '),
        _env(
            '[2, "1", "MeterValues", {"connectorId": 1, "meterValue": [{"sampledValue": '
            '[{"value": "5", "measurand": "Energy.Active.Import.Register\\u00e9\\n"}]}]}]'
        ),
    ]
    return envs


# -- realistic and randomized corpora --------------------------------------------------------------


def realistic_corpus(stations: int = 4, frames_per_station: int = 400) -> list[FrameEnvelope]:
    """What a network sends (loadtests.replay_bench: 1.6 and 2.0.1 sessions, every CALL with
    its CALLRESULT)."""
    out: list[FrameEnvelope] = []
    for index in range(stations):
        stream = Station(index, "parity").frames()
        out += [decode(next(stream)) for _ in range(frames_per_station)]
    return out


def random_corpus(count: int, seed: int = 8) -> list[FrameEnvelope]:
    """Meter frames of every kind with values, units, timestamps and ids drawn at random."""
    r = random.Random(seed)
    out = []
    for _ in range(count):
        proto = r.choice(["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
        meter_values = [_random_meter_value(r, proto) for _ in range(r.randint(0, 3))]
        if proto == "ocpp1.6":
            action = r.choice(["MeterValues", "StopTransaction"])
            payload: dict[str, Any] = {"connectorId": r.choice([0, 1, 2, 3, -1])}
            payload["transactionId"] = r.choice([r.randint(0, 10**9), None])
            payload["meterValue" if action == "MeterValues" else "transactionData"] = meter_values
        else:
            action = r.choice(["MeterValues", "TransactionEvent"])
            payload = {"evseId": r.choice([0, 1, 2, -1]), "meterValue": meter_values}
            if action == "TransactionEvent":
                payload["evse"] = {"id": r.randint(0, 4), "connectorId": r.randint(0, 2)}
                payload["transactionInfo"] = {"transactionId": f"tx-{r.randint(0, 99)}"}
        env = _call(action, payload, proto)
        if r.random() < 0.1:
            env = _env(env.frame, proto, err="FormationViolation")
        out.append(env)
    return out


def _random_meter_value(r: random.Random, proto: str) -> dict[str, Any]:
    ms = T0 + r.randint(-(10**9), 10**9)
    stamp: Any = r.choice(
        [
            f"2025-03-{r.randint(1, 31):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
            f"{r.randint(0, 59):02d}.{r.randint(0, 999_999):0{r.randint(1, 6)}d}Z",
            f"2025-{r.randint(1, 12):02d}-{r.randint(1, 31):02d}T10:00:00"
            f"{r.choice(['+', '-'])}{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
            ms,  # not a string: the receive time
            "soon",
            "2025-03-01T08:00:00Z",
        ]
    )
    sampled = []
    for _ in range(r.randint(0, 5)):
        number = r.choice(
            [r.uniform(-1e6, 1e6), r.randint(0, 10**7), r.random() * 10 ** r.randint(-30, 30)]
        )
        sv: dict[str, Any] = {}
        if proto == "ocpp1.6":
            sv["value"] = r.choice([repr(number), f"{number:.3f}", f"{number:e}", str(number)])
            if r.random() < 0.3:
                sv["unit"] = r.choice(["Wh", "kWh", "W", "A", ""])
            if r.random() < 0.05:
                sv["format"] = "SignedData"
        else:
            sv["value"] = number
            if r.random() < 0.5:
                sv["unitOfMeasure"] = {
                    "unit": r.choice(["Wh", "kWh", "W"]),
                    "multiplier": r.randint(-25, 25),
                }
        for key, choices in (
            ("measurand", ["Energy.Active.Import.Register", "Power.Active.Import", "SoC", ""]),
            ("phase", ["L1", "L2-N", ""]),
            ("location", ["Outlet", "Inlet", "EV"]),
            ("context", ["Sample.Periodic", "Transaction.Begin", "Trigger"]),
        ):
            if r.random() < 0.4:
                sv[key] = r.choice(choices)
        sampled.append(sv)
    return {"timestamp": stamp, "sampledValue": sampled}


# -- comparison ------------------------------------------------------------------------------------


def python_rows(envs: list[FrameEnvelope]) -> dict[str, list[Row]]:
    """event id -> the meter_values rows the sink builds today."""
    out: dict[str, list[Row]] = {}
    for env in envs:
        rows = route_frame(env.encode()).rows.get(METER_VALUES.name, [])
        if rows:
            out[env.id] = rows
    return out


def _insert_and_read(ch: ClickHouse, envs: list[FrameEnvelope]) -> list[Row]:
    for statement in split_statements(DRAFT.read_text(encoding="utf-8")):
        ch.client.command(statement)
    rows = [frame_row(env) for env in envs]
    ch.client.insert(OCPP_FRAMES.name, rows, column_names=list(OCPP_FRAMES.columns))
    return [tuple(row) for row in ch.client.query(_SELECT).result_rows]


async def sql_rows(ch: ClickHouse, envs: list[FrameEnvelope]) -> dict[str, list[Row]]:
    """event id -> the meter_values rows the draft view writes for the same frames."""
    out: dict[str, list[Row]] = {}
    for row in await ch.run(_insert_and_read, ch, envs):
        out.setdefault(row[12], []).append(row)
    return out


def differences(expected: dict[str, list[Row]], got: dict[str, list[Row]]) -> list[str]:
    return [
        f"{event_id}: python {expected.get(event_id)} != sql {got.get(event_id)}"
        for event_id in sorted(expected.keys() | got.keys())
        if expected.get(event_id) != got.get(event_id)
    ]


async def test_every_domain_case_flattens_alike(clickhouse: ClickHouse) -> None:
    envs = domain_cases()
    expected = python_rows(envs)

    got = await sql_rows(clickhouse, envs)

    assert differences(expected, got) == []
    assert sum(map(len, expected.values())) > 60  # the corpus does produce rows


async def test_every_edge_case_flattens_alike(clickhouse: ClickHouse) -> None:
    envs = edge_cases()
    expected = python_rows(envs)

    got = await sql_rows(clickhouse, envs)

    assert differences(expected, got) == []
    assert sum(map(len, expected.values())) > 100


async def test_realistic_and_random_corpora_flatten_alike(clickhouse: ClickHouse) -> None:
    envs = realistic_corpus() + random_corpus(1500)
    expected = python_rows(envs)

    got = await sql_rows(clickhouse, envs)

    assert differences(expected, got) == []
    assert sum(map(len, expected.values())) > 3000


async def test_known_differences_are_only_exotic_inputs(clickhouse: ClickHouse) -> None:
    """What the view reads differently, as documented in the draft: non-ASCII digits in a 1.6
    value, duplicated JSON keys, and JSON integers beyond 64 bits (orjson reads a float,
    ClickHouse a string). A compact timestamp (20250301T090000Z, not RFC 3339) is no longer
    one of them: both fall back to the receive time."""
    basic_ts = _mv16({"value": "1"}, ts="20250301T090000Z")
    arabic_digits = _mv16({"value": "\u0661\u0662"})
    duplicate = _env(
        '[2, "1", "MeterValues", {"connectorId": 1, "meterValue": '
        '[{"sampledValue": [{"value": "1", "unit": "kWh", "unit": "Wh"}]}]}]'
    )
    huge_integer = _env(
        '[2, "1", "MeterValues", {"evseId": 1, "meterValue": [{"sampledValue": '
        '[{"value": 100000000000000000000}, {"value": 2}]}]}]',
        "ocpp2.0.1",
    )
    envs = [basic_ts, arabic_digits, duplicate, huge_integer]
    expected = python_rows(envs)

    got = await sql_rows(clickhouse, envs)

    assert [r[0] for r in expected[basic_ts.id]] == [basic_ts.ts]  # the receive time
    assert [r[0] for r in got[basic_ts.id]] == [basic_ts.ts]
    assert [r[9] for r in expected[arabic_digits.id]] == [12.0]
    assert arabic_digits.id not in got
    assert [r[8] for r in expected[duplicate.id]] == ["Wh"]
    assert [r[8] for r in got[duplicate.id]] == ["kWh"]
    assert [r[9] for r in expected[huge_integer.id]] == [1e20, 2.0]
    assert [(r[9], r[13]) for r in got[huge_integer.id]] == [(2.0, 0)]
