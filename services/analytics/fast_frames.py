"""The frames topic's fast path: an `ocpp.frames` event in the normal shape appended straight to
the batch's column lists.

The exact path (rows.route_frame) decodes a FrameEnvelope, flattens it with
csms.domain.meter_values into MeterSample objects and checks each with rows.meter_row: two
frozen dataclasses and a tuple per sample, ≈ 15-25 µs each, which capped the sink at ≈ 30k
meter rows/s. This module reads the decoded JSON directly and appends every value to its
column, with the same rules written out inline.

It only keeps what it can show equal to the exact path. On anything else - a field of an
unexpected type, a sample the exact path would skip (SignedData, a value that is not a plain
number) or refuse (a timestamp or id out of its column's range), a frame that does not parse -
it appends nothing and returns False, and the caller routes the event through the exact path,
which also names the problem for the metrics. tests/unit/analytics/test_analytics_fast_frames.py
compares both paths column by column on the domain tests' cases and on generated payloads.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from csms.domain.frames import OCPP2X, as_int, id_text, parse_ts
from csms.domain.meter_values import (
    DEFAULT_CONTEXT,
    DEFAULT_LOCATION,
    DEFAULT_UNIT,
    ENERGY_REGISTER,
)
from csms.envelope import DIRECTIONS, ENVELOPE_VERSION, KINDS
from csms.protocol.versions import OcppVersion
from services.analytics.batch import Columns

_MAX_TS_MS: Final = 10_413_792_000_000  # as rows._MAX_TS_MS: DateTime64(3) ends in 2299
_MAX_UINT32: Final = 0xFFFFFFFF
_MAX_MULTIPLIER: Final = 22  # as csms.domain.meter_values: beyond it the sample is skipped
_V16: Final = str(OcppVersion.V16)
_DECIMAL_CHARS: Final = "0123456789+-.eE"
# The specification's defaults (csms.domain.meter_values), as module globals for the loops.
_ENERGY: Final = ENERGY_REGISTER
_OUTLET: Final = DEFAULT_LOCATION
_WH: Final = DEFAULT_UNIT
_PERIODIC: Final = DEFAULT_CONTEXT


# parse_ts's fallback for a text that is no timestamp: outside every datetime (year 1..9999).
_UNREADABLE: Final = -(2**62)
_TIMESTAMPS_KEPT: Final = 4096
_TIMESTAMPS: dict[str, int] = {}


class _NotNormal(Exception):
    """The event leaves the fast path (never escapes this module)."""


def add_frame(raw: bytes | None, frames: Columns, meter: Columns) -> bool:
    """Append the archive row and meter rows of one `ocpp.frames` value to the batch's
    `frames` (rows.OCPP_FRAMES) and `meter` (rows.METER_VALUES) columns and return True; or
    append nothing and return False when only the exact path can say."""
    if raw is None:
        return False
    try:
        archive = _archive_row(orjson.loads(raw))
    except (orjson.JSONDecodeError, KeyError, TypeError, _NotNormal):
        return False
    if archive[7] == "call" and archive[6] == "in" and not archive[11]:
        data = meter.data
        start = len(data[0])
        try:
            _add_samples(archive, data)
        except (_NotNormal, ValueError):
            for column in data:
                del column[start:]
            return False
    frames.rows.append(archive)
    return True


def _archive_row(d: dict[str, Any]) -> tuple[Any, ...]:
    """rows.frame_row(envelope.decode(raw)) for an envelope whose fields already have their
    types (decode would str() them; that case is the exact path's). Raises TypeError when
    `d` is not a dict, KeyError when a field is missing."""
    row = (
        d["id"], d["ts"], d["station"], d["gw"], d["conn"], d["proto"], d["dir"], d["kind"],
        d["uid"], d["action"], d.get("frame", ""), d.get("err", ""), d.get("flag", ""),
    )  # fmt: skip
    event_id, ts, station, gw, conn, proto, direction, kind, uid, action, frame, err, flag = row
    if not (
        d["v"] == ENVELOPE_VERSION
        and type(ts) is int
        and 0 <= ts < _MAX_TS_MS
        and type(event_id) is str
        and type(station) is str
        and type(gw) is str
        and type(conn) is str
        and type(proto) is str
        and type(direction) is str
        and type(kind) is str
        and type(uid) is str
        and type(action) is str
        and type(frame) is str
        and type(err) is str
        and type(flag) is str
        and direction in DIRECTIONS
        and kind in KINDS
    ):
        raise _NotNormal
    return row


def _call(frame: str) -> tuple[str, dict[str, Any]] | None:
    """(action, payload) of an inbound CALL's frame if it may carry samples, else None.

    The action is MeterValues, TransactionEvent or StopTransaction only if the frame's text
    holds it as a JSON string or spells it with an escape: any other frame cannot carry samples
    and is archived without being parsed (most frames of a network: answers, statuses)."""
    if not frame or not (
        '"MeterValues"' in frame
        or '"TransactionEvent"' in frame
        or '"StopTransaction"' in frame
        or "\\" in frame
    ):
        return None
    try:
        msg = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise _NotNormal from None
    if type(msg) is not list or len(msg) < 4 or msg[0] != 2:
        raise _NotNormal
    action, payload = msg[2], msg[3]
    if type(action) is not str or type(payload) is not dict:
        raise _NotNormal
    return action, payload


def _add_samples(archive: tuple[Any, ...], meter: list[list[Any]]) -> None:
    """csms.domain.meter_values.flatten + rows.meter_row, appended to `meter`'s columns."""
    proto: str = archive[5]
    if proto != _V16 and proto not in OCPP2X:
        return
    call = _call(archive[10])
    if call is None:
        return
    action, payload = call
    values: Any
    if proto == _V16:
        if action == "MeterValues":
            evse = as_int(payload.get("connectorId"))
            if evse is None or evse < 0:
                raise _NotNormal
            where = (evse, 1 if evse > 0 else 0, id_text(payload.get("transactionId")))
            values = payload.get("meterValue")
        elif action == "StopTransaction":
            where = (0, 0, id_text(payload.get("transactionId")))
            values = payload.get("transactionData")
        else:
            return
    elif action == "MeterValues":
        evse = as_int(payload.get("evseId"))
        if evse is None or evse < 0:
            raise _NotNormal
        where, values = (evse, 0, ""), payload.get("meterValue")
    elif action == "TransactionEvent":
        where, values = _where_transaction_event(payload), payload.get("meterValue")
    else:
        return
    if values is None:
        return  # absent: no samples, as the exact path's as_list(None)
    if type(values) is not list or where[0] > _MAX_UINT32 or where[1] > _MAX_UINT32:
        raise _NotNormal
    start = len(meter[0])
    if proto == _V16:
        _values_16(values, archive[1], meter)
    else:
        _values_2x(values, archive[1], meter)
    _fill_frame_columns(meter, start, archive, where)


def _where_transaction_event(payload: dict[str, Any]) -> tuple[int, int, str]:
    evse = payload.get("evse")
    info = payload.get("transactionInfo")
    if (evse is not None and type(evse) is not dict) or (
        info is not None and type(info) is not dict
    ):
        raise _NotNormal
    evse_id = connector_id = 0
    if evse is not None:
        # as_int(x) with "else 0" for None and negatives, as the exact path reads them
        eid, cid = evse.get("id"), evse.get("connectorId")
        evse_id = eid if type(eid) is int and eid >= 0 else 0
        connector_id = cid if type(cid) is int and cid >= 0 else 0
    return evse_id, connector_id, id_text(info.get("transactionId")) if info else ""


def _meter_value(mv: Any, fallback_ms: int) -> tuple[int, list[Any]]:
    """A meterValue's timestamp (checked against its column) and its sampledValue list."""
    if type(mv) is not dict:
        raise _NotNormal
    sampled, text = mv.get("sampledValue"), mv.get("timestamp")
    if type(text) is str:
        ts = _TIMESTAMPS.get(text)
        if ts is None:
            ts = _parse_timestamp(text)
        if ts == _UNREADABLE:
            ts = fallback_ms
    else:
        ts = parse_ts(text, fallback_ms)
    if type(sampled) is not list or not 0 <= ts < _MAX_TS_MS:
        raise _NotNormal
    return ts, sampled


def _parse_timestamp(text: str) -> int:
    """parse_ts(text) remembered: a fleet's meter values share their timestamps (clock-aligned
    readings, stations reporting in the same second), and parsing one is ≈ 1-2 µs, as much as
    a sample's whole row. Bounded: emptied when full."""
    if len(_TIMESTAMPS) >= _TIMESTAMPS_KEPT:
        _TIMESTAMPS.clear()
    ts = _TIMESTAMPS[text] = parse_ts(text, _UNREADABLE)
    return ts


def _values_16(meter_values: list[Any], fallback_ms: int, data: list[list[Any]]) -> None:
    """The per-sample loop of 1.6 (values are decimal strings): one list append per column,
    the frame's constant columns filled afterwards by _fill_frame_columns. Inline on purpose
    (no call per sample): on meter-heavy traffic this loop is the sink's largest cost."""
    c_ts, c_measurand, c_phase, c_location, c_unit, c_value, c_context = (
        data[0], data[5], data[6], data[7], data[8], data[9], data[10],
    )  # fmt: skip
    isfinite = math.isfinite
    for mv in meter_values:
        ts, sampled = _meter_value(mv, fallback_ms)
        for sv in sampled:
            if type(sv) is not dict:
                raise _NotNormal
            text = sv.get("value")
            # Only [0-9+-.eE] and float() takes it: exactly the exact path's plain decimal
            # (float's grammar on that alphabet), already stripped: 150 ns, the regex 560.
            if type(text) is not str or text.strip(_DECIMAL_CHARS):
                raise _NotNormal
            value = float(text)  # ValueError: not a number, the exact path skips it
            if not isfinite(value) or sv.get("format") == "SignedData":
                raise _NotNormal
            measurand, phase, unit = sv.get("measurand"), sv.get("phase"), sv.get("unit")
            location, context = sv.get("location"), sv.get("context")
            # csms.domain.frames.as_str inline: a non-empty string, else the default
            c_measurand.append(measurand if type(measurand) is str and measurand else _ENERGY)
            c_phase.append(phase if type(phase) is str else "")
            c_location.append(location if type(location) is str and location else _OUTLET)
            c_unit.append(unit if type(unit) is str and unit else _WH)
            c_value.append(value)
            c_context.append(context if type(context) is str and context else _PERIODIC)
        c_ts.extend([ts] * len(sampled))


def _values_2x(meter_values: list[Any], fallback_ms: int, data: list[list[Any]]) -> None:
    """The per-sample loop of 2.0.1/2.1 (values are JSON numbers, unitOfMeasure optional)."""
    c_ts, c_measurand, c_phase, c_location, c_unit, c_value, c_context = (
        data[0], data[5], data[6], data[7], data[8], data[9], data[10],
    )  # fmt: skip
    isfinite = math.isfinite
    for mv in meter_values:
        ts, sampled = _meter_value(mv, fallback_ms)
        for sv in sampled:
            if type(sv) is not dict:
                raise _NotNormal
            raw, uom = sv.get("value"), sv.get("unitOfMeasure")
            if type(raw) is not float and type(raw) is not int:  # bool is neither
                raise _NotNormal
            unit = None
            value = float(raw)
            if uom is not None:
                if type(uom) is not dict:
                    raise _NotNormal
                unit, multiplier = uom.get("unit"), uom.get("multiplier", 0)
                if type(multiplier) is not int or abs(multiplier) > _MAX_MULTIPLIER:
                    raise _NotNormal
                if multiplier:
                    # csms.domain.meter_values._scale: divide by an exact power of ten
                    value = (
                        value * 10.0**multiplier if multiplier > 0 else value / 10.0**-multiplier
                    )
            if not isfinite(value):
                raise _NotNormal
            measurand, phase = sv.get("measurand"), sv.get("phase")
            location, context = sv.get("location"), sv.get("context")
            c_measurand.append(measurand if type(measurand) is str and measurand else _ENERGY)
            c_phase.append(phase if type(phase) is str else "")
            c_location.append(location if type(location) is str and location else _OUTLET)
            c_unit.append(unit if type(unit) is str and unit else _WH)
            c_value.append(value)
            c_context.append(context if type(context) is str and context else _PERIODIC)
        c_ts.extend([ts] * len(sampled))


def _fill_frame_columns(
    data: list[list[Any]], start: int, archive: tuple[Any, ...], where: tuple[int, int, str]
) -> None:
    """The columns every sample of one frame shares, and the sample indexes."""
    count = len(data[0]) - start
    evse, connector, transaction_id = where
    if count == 1:  # the realistic case (a reading or two a minute): no lists to build
        data[1].append(archive[2])  # station
        data[2].append(evse)
        data[3].append(connector)
        data[4].append(transaction_id)
        data[11].append(archive[5])  # proto
        data[12].append(archive[0])  # event_id
        data[13].append(0)  # sample_index
    elif count:
        data[1].extend([archive[2]] * count)
        data[2].extend([evse] * count)
        data[3].extend([connector] * count)
        data[4].extend([transaction_id] * count)
        data[11].extend([archive[5]] * count)
        data[12].extend([archive[0]] * count)
        data[13].extend(range(count))
