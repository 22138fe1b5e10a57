"""Pure projections from the Redis read models' raw strings to the API's response models.

No I/O here: the store hands over what Redis returned, these functions decide what it means.
Read models are written by other processes and may be partial (a station seen connecting but
not yet booted) or, after a bug, malformed: missing values become null, a malformed entry is
skipped and logged rather than failing the whole response.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from services.api.schemas import (
    ConnectorView,
    EvseView,
    StationDetail,
    StationStatus,
    StationSummary,
    TransactionView,
)

log = logging.getLogger(__name__)

# The fields a station list item needs, in the order the store asks HMGET for them.
SUMMARY_FIELDS = ("protocol", "online", "last_seen", "vendor", "model", "firmware")


def iso_ms(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds -> `YYYY-MM-DDTHH:MM:SS.mmmZ`; None/0 (never happened) -> None."""
    if not epoch_ms or epoch_ms < 0:
        return None
    # Integer arithmetic: a float division would round some millisecond values off by one.
    seconds, millis = divmod(epoch_ms, 1000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)
    except (ValueError, OverflowError, OSError):  # beyond year 9999: a corrupt value
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ms(raw: object) -> int | None:
    """An epoch-ms value as stored in a hash ("1700000000000", maybe "1.7e12") or in JSON."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    try:
        if isinstance(raw, float):
            return int(raw)
        if isinstance(raw, str) and raw:
            return int(raw) if raw.isdigit() else int(float(raw))
    except (ValueError, OverflowError):
        return None
    return None


def _text(raw: object) -> str | None:
    """Empty strings in read models mean "not reported"."""
    return str(raw) if raw not in (None, "") else None


def _iso_field(fields: Mapping[str, str | None], name: str) -> str | None:
    return iso_ms(parse_ms(fields.get(name)))


def station_summary(station_id: str, fields: Mapping[str, str | None]) -> StationSummary:
    """One list item from the station hash (an empty mapping if the hash does not exist)."""
    return StationSummary(
        id=station_id,
        protocol=_text(fields.get("protocol")),
        online=fields.get("online") == "1",
        last_seen=_iso_field(fields, "last_seen"),
        vendor=_text(fields.get("vendor")),
        model=_text(fields.get("model")),
        firmware=_text(fields.get("firmware")),
    )


def _load_json_object(raw: str, what: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        log.warning("skipping malformed %s: not JSON", what)
        return None
    if not isinstance(value, dict):
        log.warning("skipping malformed %s: not a JSON object", what)
        return None
    return value


def _int_or_none(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


def _connector_entry(field: str, raw: str) -> tuple[int, int, dict[str, Any]] | None:
    """(evse, connector, status JSON) of one `station_connectors` field, or None if malformed.
    The JSON's own ids win; the "<evse>/<connector>" field name is the fallback."""
    entry = _load_json_object(raw, f"connector status {field!r}")
    if entry is None:
        return None
    evse_part, _, connector_part = field.partition("/")
    evse = _int_or_none(entry.get("evse"))
    connector = _int_or_none(entry.get("connector"))
    evse = evse if evse is not None else _int_or_none(evse_part)
    connector = connector if connector is not None else _int_or_none(connector_part)
    if evse is None or connector is None:
        log.warning("skipping connector status %r: no evse/connector ids", field)
        return None
    return evse, connector, entry


def _updated(entry: Mapping[str, Any]) -> str | None:
    return iso_ms(parse_ms(entry.get("ts_ms")))


def connector_tree(
    connectors: Mapping[str, str],
) -> tuple[StationStatus | None, list[EvseView]]:
    """The Station -> EVSE -> Connector tree; EVSE 0 / connector 0 is the station's own status."""
    station_status: StationStatus | None = None
    by_evse: dict[int, list[ConnectorView]] = {}
    for field, raw in connectors.items():
        parsed = _connector_entry(field, raw)
        if parsed is None:
            continue
        evse, connector, entry = parsed
        status = str(entry.get("status") or "Unknown")
        error_code = _text(entry.get("error_code"))
        if evse == 0:
            station_status = StationStatus(
                status=status, error_code=error_code, updated=_updated(entry)
            )
            continue
        by_evse.setdefault(evse, []).append(
            ConnectorView(
                connector_id=connector,
                status=status,
                error_code=error_code,
                updated=_updated(entry),
            )
        )
    evses = [
        EvseView(evse_id=evse, connectors=sorted(views, key=lambda c: c.connector_id))
        for evse, views in sorted(by_evse.items())
    ]
    return station_status, evses


def station_detail(
    station_id: str, fields: Mapping[str, str], connectors: Mapping[str, str]
) -> StationDetail:
    station_status, evses = connector_tree(connectors)
    summary = station_summary(station_id, fields)
    return StationDetail(
        **summary.model_dump(),
        serial=_text(fields.get("serial")),
        gateway=_text(fields.get("gateway")),
        connection_id=_text(fields.get("conn")),
        boot_time=_iso_field(fields, "boot_ts"),
        connected_at=_iso_field(fields, "connected_ts"),
        disconnected_at=_iso_field(fields, "disconnected_ts"),
        station_status=station_status,
        evses=evses,
    )


def _float_or_none(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    return float(raw)


def transaction_view(raw: str) -> TransactionView | None:
    """A transaction from the JSON of `Transaction.to_dict()`; None if malformed."""
    tx = _load_json_object(raw, "transaction")
    if tx is None or not tx.get("station") or tx.get("transaction_id") in (None, ""):
        return None
    return TransactionView(
        transaction_id=str(tx["transaction_id"]),
        station=str(tx["station"]),
        proto=str(tx.get("proto") or ""),
        evse=_int_or_none(tx.get("evse")) or 0,
        connector=_int_or_none(tx.get("connector")) or 0,
        id_token=_text(tx.get("id_token")),
        state="ended" if tx.get("state") == "ended" else "active",
        started=iso_ms(parse_ms(tx.get("started_ms"))),
        ended=iso_ms(parse_ms(tx.get("ended_ms"))),
        meter_start_wh=_float_or_none(tx.get("meter_start_wh")),
        meter_stop_wh=_float_or_none(tx.get("meter_stop_wh")),
        energy_wh=_float_or_none(tx.get("energy_wh")) or 0.0,
        stop_reason=_text(tx.get("stop_reason")),
        updated=iso_ms(parse_ms(tx.get("updated_ms"))),
    )
