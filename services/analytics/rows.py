"""Kafka events -> ClickHouse rows: pure functions, no I/O.

Each consumed event is routed to the rows it contributes to each table. This is the exact
path: frames in the normal shape are taken by services.analytics.fast_frames instead, which
must give the same rows (tests/unit/analytics/test_analytics_fast_frames.py).

An event that cannot be decoded is never an exception for the caller: `Routed.problem` names why
(a metric label) and the rows that could still be built are kept (a frame whose meter values
cannot be read is still archived). Every value is checked against its column type here, so a bad
event cannot make a whole batch fail to insert and block the sink.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

import orjson

from csms.domain.meter_values import flatten
from csms.domain.model import MeterSample
from csms.envelope import EnvelopeError, FrameEnvelope, decode

Row = tuple[Any, ...]
Flatten = Callable[[FrameEnvelope], list[MeterSample]]


@dataclass(frozen=True, slots=True)
class Table:
    """A sink table and the columns the sink writes, in row-tuple order."""

    name: str
    columns: tuple[str, ...]


OCPP_FRAMES: Final = Table(
    "ocpp_frames",
    ("event_id", "ts", "station", "gateway", "conn", "proto", "dir", "kind", "uid", "action",
     "frame", "err", "flag"),
)  # fmt: skip
METER_VALUES: Final = Table(
    "meter_values",
    ("ts", "station", "evse", "connector", "transaction_id", "measurand", "phase", "location",
     "unit", "value", "context", "proto", "event_id", "sample_index"),
)  # fmt: skip
TRANSACTIONS: Final = Table(
    "transactions",
    ("key", "station", "transaction_id", "proto", "evse", "connector", "id_token", "state",
     "started_ms", "ended_ms", "meter_start_wh", "meter_stop_wh", "meter_start_ms",
     "meter_stop_ms", "energy_wh", "stop_reason", "updated_ms", "charging_state",
     "trigger_reason", "offline", "remote_start_uid", "closed_by", "flags", "charging_ms"),
)  # fmt: skip
TRANSACTION_EVENTS: Final = Table(
    "transaction_events",
    ("ts", "station", "proto", "evse", "connector", "transaction_id", "event_type",
     "trigger_reason", "charging_state", "seq_no", "offline", "inferred", "id_token", "id"),
)  # fmt: skip
STATUS_EVENTS: Final = Table(
    "status_events",
    ("ts", "station", "evse", "connector", "status", "error_code", "proto", "event_id"),
)
BILLS: Final = Table(
    "bills",
    ("station", "transaction_id", "revision", "proto", "evse", "connector", "id_token",
     "tariff_id", "tariff_version", "currency", "started", "ended", "priced_until", "computed",
     "energy_wh", "charging_s", "idle_s", "items.component", "items.period", "items.quantity",
     "items.unit", "items.unit_price", "items.amount", "subtotal", "tax_rate", "tax", "total",
     "flags", "stop_reason", "closed_by"),
)  # fmt: skip
TABLES: Final = (
    OCPP_FRAMES, METER_VALUES, TRANSACTIONS, STATUS_EVENTS, TRANSACTION_EVENTS, BILLS,
)  # fmt: skip

# DateTime64(3) covers 1900..2299; epoch ms outside [0, 2300-01-01) is a broken clock, not data.
_MAX_TS_MS: Final = 10_413_792_000_000
_MAX_UINT32: Final = 0xFFFFFFFF
_MAX_UINT64: Final = 0xFFFFFFFFFFFFFFFF


class RowError(ValueError):
    """A value that does not fit its column."""


@dataclass(slots=True)
class Routed:
    """What one Kafka event contributes: rows per table name, and what went wrong if anything."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    problem: str = ""  # metric label; "" when the event was fully decoded
    detail: str = ""  # human-readable reason, for the log

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


# -- value checks -------------------------------------------------------------------------------


def _ts(value: Any) -> int:
    if type(value) is not int or not 0 <= value < _MAX_TS_MS:
        raise RowError(f"timestamp out of range: {value!r}")
    return value


def _uint(value: Any, maximum: int = _MAX_UINT32) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise RowError(f"not an unsigned integer in range: {value!r}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"not a number: {value!r}")
    return float(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else _float(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise RowError(f"not a string: {value!r}")
    return value


# -- ocpp.frames --------------------------------------------------------------------------------


def frame_row(env: FrameEnvelope) -> Row:
    return (
        env.id,
        _ts(env.ts),
        env.station,
        env.gw,
        env.conn,
        env.proto,
        env.dir,
        env.kind,
        env.uid,
        env.action,
        env.frame,
        env.err,
        env.flag,
    )


def meter_row(s: MeterSample) -> Row:
    """The hot path (one call per sample): the strings are str by MeterSample's static types,
    so only what types cannot express is checked - ranges of the unsigned columns, a finite
    value - and inline, because this runs hundreds of thousands of times per second."""
    ts, evse, connector, index, value = s.ts_ms, s.evse, s.connector, s.sample_index, s.value
    try:
        fits = (
            0 <= ts < _MAX_TS_MS
            and 0 <= evse <= _MAX_UINT32
            and 0 <= connector <= _MAX_UINT32
            and 0 <= index <= _MAX_UINT32
            and math.isfinite(value)
        )
    except TypeError:
        fits = False
    if not fits:
        raise RowError(f"sample does not fit its columns: {s!r}")
    return (
        ts, s.station, evse, connector, s.transaction_id, s.measurand, s.phase, s.location,
        s.unit, value, s.context, s.proto, s.event_id, index,
    )  # fmt: skip


def route_frame(raw: bytes | None, flatten_fn: Flatten = flatten) -> Routed:
    """An `ocpp.frames` event -> its archive row and its meter-value rows."""
    if raw is None:
        return Routed(problem="empty_value", detail="tombstone on the frames topic")
    try:
        env = decode(raw)
        archived = frame_row(env)
    except (EnvelopeError, RowError) as exc:
        # Nothing trustworthy to archive without a valid envelope (no id to deduplicate on).
        return Routed(problem="bad_envelope", detail=str(exc))
    routed = Routed(rows={OCPP_FRAMES.name: [archived]})
    try:
        samples = flatten_fn(env)
    except Exception as exc:  # noqa: BLE001 - a translator bug must not stop the archive
        routed.problem, routed.detail = "flatten_failed", f"{type(exc).__name__}: {exc}"
        return routed
    meter: list[Row] = []
    for sample in samples:
        try:
            meter.append(meter_row(sample))
        except RowError as exc:
            routed.problem, routed.detail = "bad_sample", str(exc)
    if meter:
        routed.rows[METER_VALUES.name] = meter
    return routed


# -- csms.transactions / csms.status ------------------------------------------------------------


def _object(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        raise RowError("empty value")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RowError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise RowError("not a JSON object")
    return value


def transaction_row(d: dict[str, Any]) -> Row:
    """A csms.domain.transactions.snapshot(); defaults as in csms.domain.model.Transaction
    (a snapshot of an older processor has no 2.x-style fields)."""
    try:
        return (
            _str(d["key"]),
            _str(d["station"]),
            _str(d["transaction_id"]),
            _str(d["proto"]),
            _uint(d.get("evse", 0)),
            _uint(d.get("connector", 0)),
            _str(d.get("id_token", "")),
            _str(d.get("state", "active")),
            _uint(d.get("started_ms", 0), _MAX_UINT64),
            _uint(d.get("ended_ms", 0), _MAX_UINT64),
            _opt_float(d.get("meter_start_wh")),
            _opt_float(d.get("meter_stop_wh")),
            _uint(d.get("meter_start_ms", 0), _MAX_UINT64),
            _uint(d.get("meter_stop_ms", 0), _MAX_UINT64),
            _float(d.get("energy_wh", 0.0)),
            _str(d.get("stop_reason", "")),
            _uint(d.get("updated_ms", 0), _MAX_UINT64),
            _str(d.get("charging_state", "")),
            _str(d.get("trigger_reason", "")),
            1 if d.get("offline") is True else 0,
            _str(d.get("remote_start_uid", "")),
            _str(d.get("closed_by", "")),
            _strings(d.get("flags")),
            _charging_ms(d.get("charging_periods")),
        )
    except KeyError as exc:
        raise RowError(f"missing field {exc}") from exc


def transaction_event_row(d: dict[str, Any]) -> Row:
    """A neutral transaction event (csms.domain.transactions.neutral_event or an inferred 1.6
    event, csms.domain.inference16.InferredEvent as published)."""
    try:
        seq_no = d.get("seq_no")
        return (
            _ts(d["ts_ms"]),
            _str(d["station"]),
            _str(d.get("proto", "")),
            _uint(d.get("evse", 0)),
            _uint(d.get("connector", 0)),
            _str(d.get("transaction_id") or ""),
            _str(d.get("event_type", "")),
            _str(d.get("trigger_reason", "")),
            _str(d.get("charging_state", "")),
            None if seq_no is None else _uint(seq_no),
            1 if d.get("offline") is True else 0,
            1 if d.get("inferred") is True else 0,
            _str(d.get("id_token", "")),
            _str(d["id"]),
        )
    except KeyError as exc:
        raise RowError(f"missing field {exc}") from exc


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [_str(v) for v in value]


def _charging_ms(periods: Any) -> int:
    """Milliseconds in Charging among closed periods (an open one has no end yet)."""
    total = 0
    for p in periods if isinstance(periods, list) else []:
        if isinstance(p, dict) and p.get("state") == "Charging":
            start, end = p.get("start_ms"), p.get("end_ms")
            if isinstance(start, int) and isinstance(end, int) and end > start:
                total += end - start
    return min(total, _MAX_UINT64)


def status_row(d: dict[str, Any]) -> Row:
    """A dataclasses.asdict(ConnectorStatus) value."""
    try:
        return (
            _ts(d["ts_ms"]),
            _str(d["station"]),
            _uint(d["evse"]),
            _uint(d["connector"]),
            _str(d["status"]),
            _str(d["error_code"]),
            _str(d["proto"]),
            _str(d["event_id"]),
        )
    except KeyError as exc:
        raise RowError(f"missing field {exc}") from exc


def _route_json(raw: bytes | None, table: Table, build: Callable[[dict[str, Any]], Row]) -> Routed:
    try:
        row = build(_object(raw))
    except RowError as exc:
        return Routed(problem=f"bad_{table.name}", detail=str(exc))
    return Routed(rows={table.name: [row]})


def route_transaction(raw: bytes | None) -> Routed:
    """csms.transactions carries snapshots (`type` "transaction", or none from older
    processors) and neutral events (`type` "event")."""
    try:
        d = _object(raw)
    except RowError as exc:
        return Routed(problem="bad_transactions", detail=str(exc))
    if d.get("type") == "event":
        table, build = TRANSACTION_EVENTS, transaction_event_row
    else:
        table, build = TRANSACTIONS, transaction_row
    try:
        row = build(d)
    except RowError as exc:
        return Routed(problem=f"bad_{table.name}", detail=str(exc))
    return Routed(rows={table.name: [row]})


def route_status(raw: bytes | None) -> Routed:
    return _route_json(raw, STATUS_EVENTS, status_row)


# -- csms.bills ---------------------------------------------------------------------------------

# Decimal(P, S) column scales of `bills` (see migration 0006).
_MONEY: Final = 4
_UNIT_PRICE: Final = 6
_ENERGY: Final = 3
_RATE: Final = 6


def _decimal(value: Any, scale: int, precision: int = 18) -> Decimal:
    """A decimal carried as a JSON string (or integer), rounded half-up to the column's scale.

    Floats are refused: money arrives as strings precisely so that no binary rounding creeps in.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"not a decimal string: {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise RowError(f"not a decimal: {value!r}") from exc
    if not number.is_finite():
        raise RowError(f"not a finite decimal: {value!r}")
    scaled = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if abs(scaled) >= Decimal(10) ** (precision - scale):
        raise RowError(f"decimal out of range for Decimal({precision}, {scale}): {value!r}")
    return scaled


def _items(value: Any) -> tuple[list[Any], ...]:
    """Bill lines -> the six parallel arrays of the `items` Nested column."""
    if not isinstance(value, list):
        raise RowError(f"items: not a list: {value!r}")
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
    for item in value:
        if not isinstance(item, dict):
            raise RowError(f"items: not an object: {item!r}")
        try:
            line = (
                _str(item["component"]),
                _str(item.get("period", "")),
                _decimal(item["quantity"], _MONEY),
                _str(item.get("unit", "")),
                _decimal(item["unit_price"], _UNIT_PRICE),
                _decimal(item["amount"], _MONEY),
            )
        except KeyError as exc:
            raise RowError(f"items: missing field {exc}") from exc
        for column, cell in zip(columns, line, strict=True):
            column.append(cell)
    return columns


def bill_row(d: dict[str, Any]) -> Row:
    """A final bill as the billing processor publishes it (csms.domain.billing.finish plus the
    session's identity, `revision` >= 1 and `computed_ms`)."""
    try:
        revision = _uint(d["revision"])
        if revision < 1:
            raise RowError(f"revision must be >= 1: {revision}")
        components, periods, quantities, units, unit_prices, amounts = _items(d["items"])
        return (
            _str(d["station"]),
            _str(d["transaction_id"]),
            revision,
            _str(d.get("proto", "")),
            _uint(d.get("evse", 0)),
            _uint(d.get("connector", 0)),
            _str(d.get("id_token") or ""),
            _str(d["tariff_id"]),
            _uint(d.get("tariff_version", 1)),
            _str(d["currency"]),
            _ts(d["started_ms"]),
            _ts(d.get("ended_ms") or 0),
            _ts(d.get("priced_until_ms") or 0),
            _ts(d.get("computed_ms") or 0),
            _decimal(d.get("energy_wh", "0"), _ENERGY),
            _uint(d.get("charging_s", 0)),
            _uint(d.get("idle_s", 0)),
            components,
            periods,
            quantities,
            units,
            unit_prices,
            amounts,
            _decimal(d["subtotal"], _MONEY),
            _decimal(d.get("tax_rate", "0"), _RATE, 9),
            _decimal(d["tax"], _MONEY),
            _decimal(d["total"], _MONEY),
            _strings(d.get("flags")),
            _str(d.get("stop_reason") or ""),
            _str(d.get("closed_by") or ""),
        )
    except KeyError as exc:
        raise RowError(f"missing field {exc}") from exc


def route_bill(raw: bytes | None) -> Routed:
    """csms.bills: only final bills (`type` "bill", `state` "final") become rows; running bills
    and other message types are skipped without complaint (they are not for ClickHouse)."""
    try:
        d = _object(raw)
    except RowError as exc:
        return Routed(problem=f"bad_{BILLS.name}", detail=str(exc))
    if d.get("type") != "bill" or d.get("state") != "final":
        return Routed()
    try:
        row = bill_row(d)
    except RowError as exc:
        return Routed(problem=f"bad_{BILLS.name}", detail=str(exc))
    return Routed(rows={BILLS.name: [row]})
