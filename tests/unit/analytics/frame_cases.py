"""Frames for the fast path's parity test: the domain tests' named cases, the edge cases of
every flattening rule (kept from the SQL parity draft of commit c41c6da, which found the
timestamp bug), a realistic network and a seeded random corpus. Each is an encoded
`ocpp.frames` value, as the sink consumes it."""

from __future__ import annotations

import itertools
import random
from typing import Any

import orjson

from csms.envelope import FrameEnvelope, decode
from loadtests.corpus import Station
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

_ids = itertools.count(1)


def env(frame: str, proto: str = "ocpp1.6", **kw: Any) -> FrameEnvelope:
    """An inbound CALL envelope around a raw frame text (kw override any field)."""
    fields: dict[str, Any] = {
        "id": f"raw-{next(_ids):06d}", "ts": T0 + 7, "station": "S", "gw": "g", "conn": "c",
        "proto": proto, "dir": "in", "kind": "call", "uid": "1", "action": "MeterValues",
        "frame": frame,
    }  # fmt: skip
    fields.update(kw)
    return FrameEnvelope(**fields)


def call(action: str, payload: Any, proto: str = "ocpp1.6") -> FrameEnvelope:
    return env(orjson.dumps([2, "1", action, payload]).decode(), proto, action=action)


def _mv16(*sampled: Any, ts: Any = "2025-03-01T08:00:00Z", connector: Any = 1) -> FrameEnvelope:
    payload = {"connectorId": connector, "meterValue": [{"timestamp": ts, "sampledValue": sampled}]}
    return call("MeterValues", payload)


def _mv2x(*sampled: Any, evse: Any = 1, proto: str = "ocpp2.0.1") -> FrameEnvelope:
    payload = {
        "evseId": evse,
        "meterValue": [{"timestamp": "2025-03-01T08:00:00Z", "sampledValue": sampled}],
    }
    return call("MeterValues", payload, proto)


TIMESTAMPS = [
    *(timestamp for timestamp, _ in TIMESTAMP_CASES),
    "2025-03-01", "2025-03-01T08", "2025-03-01T08Z", "2025-03-01T08:00Z", "2025-03-01 08:00:00Z",
    "2025-03-01T08:00:00,5Z", "2025-03-01T08:00:00.9999999Z", "2025-03-01T08:00:00+0200",
    "2025-03-01T08:00:00+02", "2025-03-01T08:00:00-00:00", "2025-03-01T08:00:00.5+02:00:30.5",
    "2025-03-01T08:00:00.0125Z", "2025-03-01T08:00:00.0005Z", "2025-03-01T08:00:00.0015Z",
    "2024-02-29T12:00:00Z", "2025-02-29T12:00:00Z", "2100-02-29T12:00:00Z", "2025-04-31T00:00:00Z",
    "2025-13-01T00:00:00Z", "2025-03-01T24:00:00Z", "2025-03-01T08:60:00Z", "2025-03-01T08:00:60Z",
    "2025-03-01T08:00:00+24:00", "2025-03-01T08:00:00z", "2025-03-01Z", "2025-3-1T08:00:00Z",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "1900-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "2299-12-31T23:59:59.999Z", "2300-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59", "\u0662025-03-01T08:00:00Z", "1740011481445",
]  # fmt: skip

DECIMAL_STRINGS = [
    "1e999", "-1e999", "+.5", "5.", "-0", "1E+05", "1e-5", "00012.50", ".", "e5", "1e", "0x10",
    "1,5", "- 5", "--5", " ", "\t5\n", "\x0b5\x0c", "5\x1c", "\u00a05\u2003", "\u20285", "5\x85",
    "1.7976931348623157e308", "2.2250738585072014e-308", "4.9e-324", "1_000", "nan", "inf",
    "-Infinity", "0.1000000000000000055511151231257827", "123456789012345678901234567890",
    "\u0661\u0662", "5.e3", ".e3", "+", "", "1e+", "12e3.5", "1.2.3", "E5",
]  # fmt: skip


def domain_cases() -> list[FrameEnvelope]:
    """The inputs of tests/unit/domain/test_meter_values.py, and what else is not an
    accepted inbound CALL."""
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
        s16.result(ACCEPTED_CALL, {"connectorId": 1, "meterValue": []}),
        s16.csms_call("MeterValues", meter_values16(1, mv16(T0, sv16("5")))),
    ]
    for proto in ("ocpp1.6", "ocpp2.0.1"):
        envs += [call("MeterValues", payload, proto) for payload in WEIRD_PAYLOADS]
    return envs + [env(frame) for frame in BROKEN_FRAMES]


def _value_cases() -> list[FrameEnvelope]:
    envs = [_mv16({"value": v}) for v in DECIMAL_STRINGS]
    envs += [_mv16({"value": "1", "format": f}) for f in ("Raw", "SignedData", 5, None, "signed")]
    envs += [
        _mv16({"value": "1", "measurand": "", "unit": 5, "phase": 7, "location": None}),
        _mv16({"value": "1", "context": "Trigger", "phase": "N", "location": "Body"}),
        _mv16({"value": "1", "phase": "", "context": "", "unit": ""}),
        _mv16({"value": "2"}, ts=5),
        _mv16({"value": "2"}, ts=None),
    ]
    big = [9.674503571767185e19, -1.5e20, 1e21, 1e16 + 2, 12345678901234567.0]
    envs += [_mv16({"value": v}) for v in big]  # numbers, not 1.6 strings: skipped
    values_2x: list[Any] = [
        0, -0.0, 1e-320, 2**53 + 1, 2**63 + 1, 2**64 - 1, -(2**63), 1.5e308, True, False, None,
        "8", [1], {"v": 1}, *big,
    ]  # fmt: skip
    envs += [_mv2x({"value": v}) for v in values_2x]
    multipliers = (0, 1, -1, 3, -3, 21, -21, 22, -22, 23, -23, 400, 2**64 - 1, 3.0, "3", None, True)
    for multiplier in multipliers:
        for value in (1, 7, 123, 0.1, 12.5, 1e300, 1e-300, -0.0):
            envs.append(_mv2x({"value": value, "unitOfMeasure": {"multiplier": multiplier}}))
    envs += [
        _mv2x({"value": 1, "unitOfMeasure": {"unit": "kWh"}}),
        _mv2x({"value": 1, "unitOfMeasure": {"unit": ""}}),
        _mv2x({"value": 1, "unitOfMeasure": {}}),
        _mv2x({"value": 1, "unitOfMeasure": "kWh"}),
        _mv2x({"value": 1, "unitOfMeasure": None}),
        _mv2x({"value": 1, "unitOfMeasure": [3]}),
        _mv2x({"value": 1, "unit": "kWh"}),  # a 1.6 field in 2.x: ignored
        _mv2x({"value": 1}, proto="ocpp2.1"),
    ]
    return envs


def _where_cases() -> list[FrameEnvelope]:
    connectors = (0, 1, 7, -1, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 1.0, True, "1", None)
    envs = [_mv16({"value": "3"}, connector=connector) for connector in connectors]
    for tx in ("abc", "", 5, -5, 2**63 + 1, 1.5, True, None, {"id": 1}):
        data = [mv16(T0, sv16("1"))]
        mv = {"connectorId": 1, "transactionId": tx, "meterValue": data}
        envs.append(call("MeterValues", mv))
        envs.append(call("StopTransaction", {"transactionId": tx, "transactionData": data}))
        te = {"transactionInfo": {"transactionId": tx}, "meterValue": [mv201(T0, sv201(1))]}
        envs.append(call("TransactionEvent", te, "ocpp2.1"))
    envs += [
        call("StopTransaction", {"transactionId": 1, "transactionData": "x"}),
        call("StopTransaction", {"transactionId": 1, "transactionData": [None, {"a": 1}]}),
        call("StopTransaction", {"transactionId": 1, "transactionData": None}),
        call("StopTransaction", {"transactionId": 1, "meterValue": [mv16(T0, sv16("1"))]}),
    ]
    for evse in (0, 3, -1, 2**32 - 1, 2**32, 2**64 - 1, 1.0, False, "2", None):
        envs.append(_mv2x({"value": 1}, evse=evse))
        te = {"evse": {"id": evse, "connectorId": evse}, "meterValue": [mv201(T0, sv201(1))]}
        envs.append(call("TransactionEvent", te, "ocpp2.0.1"))
    odds: list[Any] = [3, [1, 2], None, {}]
    for odd in odds:
        envs.append(call("TransactionEvent", {"evse": odd, "meterValue": [mv201(T0, sv201(1))]}))
        envs.append(
            call(
                "TransactionEvent",
                {"transactionInfo": odd, "meterValue": [mv201(T0, sv201(1))]},
                "ocpp2.0.1",
            )
        )
    return envs


def _frame_text_cases() -> list[FrameEnvelope]:
    payload = '{"connectorId": 1, "meterValue": [{"sampledValue": [{"value": "4"}]}]}'
    plain = f'[2, "1", "MeterValues", {payload}]'
    return [
        env(f'[2.0, "1", "MeterValues", {payload}]'),  # 2.0 == 2 in Python
        env(f'[2, "1", "MeterValues", {payload}, "extra"]'),
        env(f'[true, "1", "MeterValues", {payload}]'),
        env(f'["2", "1", "MeterValues", {payload}]'),
        env(f'[2, 1, "MeterValues", {payload}]'),
        env(f'[2, "1", "MeterValues", {payload}'),  # truncated
        env(plain, action="Heartbeat"),  # the frame decides, not the envelope
        env(f'[2, "1", "Heartbeat", {payload}]'),
        env(f'[2, "1", "Meter\\u0056alues", {payload}]'),  # an escaped action is the action
        env('[2, "1", "Heartbeat", {"note": "MeterValues"}]'),
        env(plain, dir="out"),
        env(plain, kind="result"),
        env(plain, err="OccurrenceConstraintViolation"),
        env(plain, flag="ConcurrentCall"),
        env(f" {plain} "),
        env(plain, proto="ocpp9"),
        env(plain, ts=-5),
        env(plain, ts=2**62),
        env(
            '[2, "1", "MeterValues", {"connectorId": 1, "meterValue": [{"sampledValue": '
            '[{"value": "5", "measurand": "Energy.Active.Import.Register\\u00e9\\n"}]}]}]'
        ),
        env(
            '[2, "1", "MeterValues", {"connectorId": 1, "meterValue": '
            '[{"sampledValue": [{"value": "1", "unit": "kWh", "unit": "Wh"}]}]}]'
        ),
        env(
            '[2, "1", "MeterValues", {"evseId": 1, "meterValue": [{"sampledValue": '
            '[{"value": 100000000000000000000}, {"value": 2}]}]}]',
            "ocpp2.0.1",
        ),
    ]


def edge_cases() -> list[FrameEnvelope]:
    """Every rule of the flattening at and beyond its edges."""
    return _value_cases() + _where_cases() + _frame_text_cases()


def odd_envelopes() -> list[bytes]:
    """Envelopes decode() str()s or refuses: only the exact path may take them."""
    base = _mv16({"value": "1"}).to_dict()
    out = [orjson.dumps({**base, key: value}) for key, value in (
        ("id", 5), ("station", None), ("gw", 1.5), ("conn", ["c"]), ("proto", 16), ("uid", 7),
        ("action", None), ("frame", None), ("frame", 5), ("err", 0), ("flag", False),
        ("ts", "5"), ("ts", True), ("ts", 1.5), ("v", 2), ("v", True), ("v", 1.0), ("dir", "up"),
        ("kind", "cal"), ("dir", ["in"]), ("kind", {"k": 1}),
    )]  # fmt: skip
    out += [orjson.dumps({k: v for k, v in base.items() if k != key}) for key in base]
    connect = Session().connect().to_dict()  # no samples to catch a bad receive time
    out += [orjson.dumps({**connect, "ts": ts}) for ts in (-5, 10_413_792_000_000, 2**62)]
    return [*out, b"", b"null", b"[]", b"\xff", b'{"v": 1}', orjson.dumps(base)[:-1]]


def realistic_corpus(stations: int = 6, frames_per_station: int = 300) -> list[FrameEnvelope]:
    """What a network sends (loadtests.corpus: 1.6 and 2.0.1 sessions, every CALL with its
    CALLRESULT), as the benchmarks send it."""
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
        one = call(action, payload, proto)
        if r.random() < 0.1:
            one = env(one.frame, proto, err="FormationViolation")
        out.append(one)
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
