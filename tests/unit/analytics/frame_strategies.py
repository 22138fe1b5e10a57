"""Hypothesis strategies for `ocpp.frames` values carrying meter values: 1.6 MeterValues and
StopTransaction.transactionData, 2.0.1/2.1 MeterValues and TransactionEvent.

`normal=True` draws what stations send (decimal strings or JSON numbers, string enums, RFC 3339
timestamps, small ids): the fast path must take all of it. `normal=False` mixes in every odd
shape - values of the wrong type, SignedData, non-decimal text, huge multipliers, broken
containers, odd timestamps, a 1.6 payload in a 2.x session, rejected or outbound frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

# What JSON can carry: no lone surrogates, integers within 64 bits (orjson's range).
_text = st.text(st.characters(codec="utf-8"), max_size=10)
_int64 = st.integers(-(2**63), 2**64 - 1)
_odd: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), _text,
    st.lists(_int64, max_size=2), st.dictionaries(_text, _int64, max_size=2),
)  # fmt: skip
_enums = st.one_of(
    st.sampled_from(["", "Energy.Active.Import.Register", "Power.Active.Import", "Voltage",
                     "L1", "L2-N", "Inlet", "Outlet", "kWh", "W", "Sample.Clock"]),
    _text, _odd,
)  # fmt: skip
_plain_number = st.one_of(
    st.integers(-(10**12), 10**12), st.floats(-1e15, 1e15, allow_nan=False, width=64)
)
_plain_decimal = st.one_of(
    st.from_regex(r"[+-]?(?:[0-9]{1,9}\.?[0-9]{0,6}|\.[0-9]{1,6})(?:[eE][+-]?[0-9]{1,2})?",
                  fullmatch=True),
    _plain_number.map(repr), _plain_number.map(lambda n: f"{n:.3f}"),
)  # fmt: skip
_any_decimal = st.one_of(
    _plain_decimal, st.text(alphabet="0123456789+-.eE_ \t\u0661", max_size=8),
    st.floats().map(repr), _text, _odd,
)  # fmt: skip
_offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def _iso(draw: st.DrawFn, *, normal: bool) -> str:
    """An RFC 3339 UTC timestamp as stations write it (normal), or an ISO-like variant."""
    low, high = (1971, 2290) if normal else (1900, 2400)
    # hypothesis bounds datetimes with naive values; the zone is chosen below
    bounds = datetime(low, 1, 1), datetime(high, 1, 1)  # noqa: DTZ001
    instant = draw(st.datetimes(*bounds))
    spec = draw(st.sampled_from(["seconds", "milliseconds", "microseconds"]))
    if normal:
        return instant.replace(tzinfo=UTC).isoformat(timespec=spec)[:-6] + "Z"
    zone = draw(st.one_of(st.none(), st.just(UTC), _offsets))
    text = instant.replace(tzinfo=zone).isoformat(timespec=spec)
    return draw(st.sampled_from([text, text + "Z", text.replace("T", " "), text[:16]]))


def _timestamps(normal: bool) -> st.SearchStrategy[Any]:
    return _iso(normal=True) if normal else st.one_of(_iso(normal=False), _iso(normal=True), _odd)


def _sampled(family: str, normal: bool) -> st.SearchStrategy[Any]:
    enums = _text if normal else _enums
    fields = {key: enums for key in ("measurand", "phase", "location", "context")}
    if family == "ocpp1.6":
        fields["unit"] = enums
        if not normal:
            fields["format"] = st.one_of(st.sampled_from(["Raw", "SignedData"]), _odd)
        value = _plain_decimal if normal else _any_decimal
    else:
        multiplier = st.integers(-3, 3) if normal else st.one_of(st.integers(-30, 30), _odd)
        uom = st.fixed_dictionaries({}, optional={"unit": enums, "multiplier": multiplier})
        fields["unitOfMeasure"] = uom if normal else st.one_of(uom, uom, _odd)
        value = _plain_number if normal else st.one_of(_plain_number, _int64, st.floats(), _odd)
    sampled = st.fixed_dictionaries({"value": value}, optional=fields)
    return sampled if normal else st.one_of(sampled, sampled, sampled, _odd)


def _meter_values(family: str, normal: bool) -> st.SearchStrategy[Any]:
    sampled = st.lists(_sampled(family, normal), max_size=4)
    if normal:
        mv = st.fixed_dictionaries({"timestamp": _timestamps(True), "sampledValue": sampled})
        return st.lists(mv, max_size=3)
    mv = st.fixed_dictionaries(
        {"sampledValue": st.one_of(sampled, sampled, _odd)},
        optional={"timestamp": _timestamps(False)},
    )
    values = st.lists(st.one_of(mv, mv, mv, _odd), max_size=3)
    return st.one_of(values, values, values, _odd)


def _ids(normal: bool) -> st.SearchStrategy[Any]:
    return st.integers(0, 2**31) | _text if normal else st.one_of(_int64, _text, _odd)


def _small(normal: bool) -> st.SearchStrategy[Any]:
    return st.integers(0, 9) if normal else st.one_of(st.integers(-2, 2**33), _odd)


def _payload(family: str, action: str, normal: bool) -> st.SearchStrategy[dict[str, Any]]:
    values = _meter_values(family, normal)
    if action == "StopTransaction":
        return st.fixed_dictionaries(
            {"transactionId": _ids(normal), "meterStop": st.integers(0, 10**6)},
            optional={"transactionData": values},
        )
    if action == "TransactionEvent":
        ids = {"id": _small(normal), "connectorId": _small(normal)}
        evse = st.fixed_dictionaries({}, optional=ids)
        info = st.fixed_dictionaries({"transactionId": _ids(normal)})
        return st.fixed_dictionaries(
            {"eventType": st.just("Updated"), "seqNo": st.integers(0, 9)},
            optional={
                "meterValue": values,
                "evse": evse if normal else st.one_of(evse, _odd),
                "transactionInfo": info if normal else st.one_of(info, _odd),
            },
        )
    if family == "ocpp1.6":
        return st.fixed_dictionaries(
            {"connectorId": _small(normal), "meterValue": values},
            optional={"transactionId": _ids(normal)},
        )
    return st.fixed_dictionaries({"evseId": _small(normal), "meterValue": values})


@st.composite
def frames(draw: st.DrawFn, *, normal: bool) -> bytes:
    """An encoded `ocpp.frames` value carrying a meter-bearing CALL."""
    proto = draw(st.sampled_from(["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]))
    v16 = proto == "ocpp1.6"
    actions = ["MeterValues", "StopTransaction" if v16 else "TransactionEvent"]
    family = proto
    if not normal:
        actions += ["TransactionEvent" if v16 else "StopTransaction"]
        family = draw(st.sampled_from([proto, proto, "ocpp1.6", "ocpp2.0.1"]))
    action = draw(st.sampled_from(actions))
    payload = draw(_payload(family, action, normal))
    envelope: dict[str, Any] = {
        "v": 1, "id": draw(_text), "ts": draw(st.integers(0, 2**42)),
        "station": draw(_text), "gw": "gw-0", "conn": "c", "proto": proto, "dir": "in",
        "kind": "call", "uid": "u1", "action": action,
        "frame": orjson.dumps([2, "u1", action, payload]).decode(),
    }  # fmt: skip
    if not normal:
        envelope["dir"] = draw(st.sampled_from(["in", "in", "in", "out"]))
        envelope["kind"] = draw(st.sampled_from(["call", "call", "call", "result"]))
        envelope.update(draw(st.fixed_dictionaries({}, optional={"err": _text, "flag": _text})))
    return orjson.dumps(envelope)
