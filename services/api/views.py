"""Pure projections from the Redis read models' raw strings to the API's response models.

No I/O here: the store hands over what Redis returned, these functions decide what it means.
Read models are written by other processes and may be partial (a station seen connecting but
not yet booted) or, after a bug, malformed: missing values become null, a malformed entry is
skipped and logged rather than failing the whole response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from csms.domain import device_model as dm
from csms.domain import transactions as txp
from csms.domain.model import Transaction
from services.api.schemas import (
    AttributeType,
    AttributeView,
    ChargingPeriod,
    ConnectorView,
    DeviceConnectorView,
    DeviceEvseView,
    DeviceModelView,
    EventView,
    EvseView,
    FaultView,
    MetricView,
    MonitorView,
    NodeStatus,
    ReportAction,
    ReportView,
    StationDetail,
    StationStatus,
    StationSummary,
    TransactionView,
    VariableView,
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
        **_transaction_facts(tx),
    )


def _transaction_facts(d: dict[str, Any]) -> dict[str, Any]:
    """The 2.x-style facts and derived views (csms.domain.transactions), tolerant of a read
    model written by an older processor."""
    try:
        tx = Transaction.from_dict(d)
        periods = txp.charging_periods(tx)
        missing, flags = txp.missing_seq_nos(tx), txp.flags(tx)
    except (TypeError, ValueError, IndexError):
        return {}
    return {
        "charging_state": _text(tx.charging_state),
        "trigger_reason": _text(tx.trigger_reason),
        "offline": tx.offline is True,
        "remote_start_id": _int_or_none(tx.remote_start_id),
        "remote_start_uid": _text(tx.remote_start_uid),
        "closed_by": txp.closed_by(tx) or None,
        "flags": flags,
        "charging_periods": [
            ChargingPeriod(
                state=str(p["state"]),
                start=iso_ms(parse_ms(p["start_ms"])),
                end=iso_ms(parse_ms(p["end_ms"])),
            )
            for p in periods
        ],
        "missing_seq_nos": missing,
    }


# --- device model ------------------------------------------------------------------------------

_ATTRIBUTE_ORDER: tuple[AttributeType, ...] = ("Actual", "Target", "MinSet", "MaxSet")
_REPORT_ACTIONS: dict[str, ReportAction] = {
    "NotifyReport": "NotifyReport",
    "NotifyMonitoringReport": "NotifyMonitoringReport",
}


def parse_device_model(station_id: str, raw: str) -> dm.DeviceModel | None:
    """The stored JSON of DeviceModel.to_dict(); None (logged) when malformed."""
    data = _load_json_object(raw, f"device model of {station_id!r}")
    if data is None:
        return None
    try:
        return dm.DeviceModel.from_dict(data)
    except (ValueError, TypeError):
        log.warning("skipping malformed device model of %r", station_id)
        return None


def _node_status(status: dm.Status | None) -> NodeStatus | None:
    if status is None:
        return None
    return NodeStatus(
        status=status.status,
        error_code=_text(status.error_code),
        info=_text(status.info),
        vendor_error_code=_text(status.vendor_error_code),
        updated=iso_ms(status.ts_ms),
        source=status.source,
    )


def _faults(faults: Mapping[str, dm.Fault]) -> list[FaultView]:
    """The active faults, oldest first (ended ones are kept in the model as tombstones)."""
    active = sorted((f for f in faults.values() if f.active), key=lambda f: (f.ts_ms, f.code))
    return [
        FaultView(code=f.code, info=_text(f.info), since=iso_ms(f.ts_ms), source=f.source)
        for f in active
    ]


def _evse_view(node: dm.EvseNode) -> DeviceEvseView:
    return DeviceEvseView(
        evse_id=node.id,
        status=_node_status(node.status),
        faults=_faults(node.faults),
        connectors=[
            DeviceConnectorView(
                connector_id=c.id, status=_node_status(c.status), faults=_faults(c.faults)
            )
            for _, c in sorted(node.connectors.items())
        ],
    )


def _event_view(event: dm.Event | None) -> EventView | None:
    if event is None:
        return None
    return EventView(
        event_id=event.event_id,
        timestamp=iso_ms(event.ts_ms),
        trigger=event.trigger,
        actual_value=event.actual_value,
        notification_type=_text(event.notification_type),
        cleared=event.cleared,
        tech_code=_text(event.tech_code),
        tech_info=_text(event.tech_info),
        cause=event.cause,
        transaction_id=_text(event.transaction_id),
        monitor_id=event.monitor_id,
    )


def _variable_view(var: dm.Variable) -> VariableView:
    return VariableView(
        component=var.component,
        component_instance=_text(var.component_instance),
        variable=var.variable,
        variable_instance=_text(var.variable_instance),
        evse_id=var.evse,
        connector_id=var.connector,
        v16_key=_text(var.v16_key),
        attributes=[
            AttributeView(
                type=kind,
                value=a.value,
                mutability=a.mutability,
                persistent=a.persistent,
                constant=a.constant,
                updated=iso_ms(a.ts_ms),
                source=a.source,
            )
            for kind in _ATTRIBUTE_ORDER
            if (a := var.attributes.get(kind)) is not None
        ],
        characteristics=dict(var.characteristics),
        monitors=[
            MonitorView(
                id=m.id, type=m.type, value=m.value, severity=m.severity, transaction=m.transaction
            )
            for m in sorted(var.monitors.values(), key=lambda m: m.id)
        ],
        last_event=_event_view(var.last_event),
    )


def _variable_order(var: dm.Variable) -> tuple[str, str, int, int, str, str]:
    return (
        var.component.lower(),
        var.component_instance.lower(),
        -1 if var.evse is None else var.evse,
        -1 if var.connector is None else var.connector,
        var.variable.lower(),
        var.variable_instance.lower(),
    )


def _metric_view(m: dm.Metric) -> MetricView:
    return MetricView(
        evse_id=m.evse,
        connector_id=m.connector,
        measurand=m.measurand,
        phase=_text(m.phase),
        location=_text(m.location),
        value=m.value,
        unit=_text(m.unit),
        context=_text(m.context),
        timestamp=iso_ms(m.ts_ms),
    )


def _report_view(r: dm.ReportProgress) -> ReportView | None:
    action = _REPORT_ACTIONS.get(r.action)
    if action is None:
        return None
    return ReportView(
        action=action,
        request_id=r.request_id,
        seq_nos=list(r.seq_nos),
        complete=r.complete,
        generated=iso_ms(r.generated_ms),
    )


def variable_filter(component: str | None, variable: str | None) -> Callable[[dm.Variable], bool]:
    """Case-insensitive match on the component and/or variable name (instances not included)."""
    comp, name = (component or "").lower(), (variable or "").lower()

    def keep(var: dm.Variable) -> bool:
        return (not comp or var.component.lower() == comp) and (
            not name or var.variable.lower() == name
        )

    return keep


def device_model_view(
    station_id: str,
    model: dm.DeviceModel | None,
    fields: Mapping[str, str],
    keep: Callable[[dm.Variable], bool] | None = None,
) -> DeviceModelView:
    """The API's device model; `fields` (the live station hash) wins for online/last_seen and
    for whatever the model does not know yet."""
    m = model if model is not None else dm.DeviceModel.new(station_id)
    info = m.info
    live_seen = parse_ms(fields.get("last_seen")) or 0
    variables = sorted(
        (v for v in m.variables.values() if keep is None or keep(v)), key=_variable_order
    )
    reports = [_report_view(r) for _, r in sorted(m.reports.items())]
    return DeviceModelView(
        id=station_id,
        protocol=_text(fields.get("protocol")) or _text(info.protocol),
        online=fields.get("online") == "1" if "online" in fields else info.online,
        last_seen=iso_ms(max(info.last_seen, live_seen)),
        vendor=_text(fields.get("vendor")) or _text(info.vendor),
        model=_text(fields.get("model")) or _text(info.model),
        firmware=_text(fields.get("firmware")) or _text(info.firmware),
        serial=_text(fields.get("serial")) or _text(info.serial),
        boot_time=iso_ms(max(info.boot_ts, parse_ms(fields.get("boot_ts")) or 0)),
        status=_node_status(m.status),
        faults=_faults(m.faults),
        evses=[_evse_view(e) for _, e in sorted(m.evses.items())],
        variables=[_variable_view(v) for v in variables],
        metrics=[
            _metric_view(x)
            for x in sorted(
                m.metrics.values(),
                key=lambda x: (x.evse, x.connector, x.measurand, x.phase, x.location),
            )
        ],
        reports=[r for r in reports if r is not None],
    )
