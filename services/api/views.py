"""Pure mappings from the read models' domain objects to the API's response models.

No I/O and no parsing here: the store hands over what the read models (csms.readmodels)
decoded - lenient already, so a partial record (a station seen connecting but not yet booted)
arrives with its defaults and a malformed one not at all - and these functions decide how it
is shown: times as ISO 8601, empty strings and never-happened times as null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from csms.domain import device_model as dm
from csms.domain import transactions as txp
from csms.domain.model import Transaction
from csms.domain.status import StationState
from csms.readmodels.stations import StationRecord, StoredConnector
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


def iso_ms(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds -> `YYYY-MM-DDTHH:MM:SS.mmmZ`; None/0 (never happened) -> None."""
    if not epoch_ms or epoch_ms < 0:
        return None
    # Integer arithmetic: a float division would round some millisecond values off by one.
    seconds, millis = divmod(int(epoch_ms), 1000)
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)
    except (ValueError, OverflowError, OSError):  # beyond year 9999: a corrupt value
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(raw: object) -> str | None:
    """Empty strings in read models mean "not reported"."""
    return str(raw) if raw not in (None, "") else None


def station_summary(state: StationState) -> StationSummary:
    """One list item from the station's facts (defaults when nothing is stored)."""
    return StationSummary(
        id=state.station,
        protocol=_text(state.protocol),
        online=state.online,
        last_seen=iso_ms(state.last_seen),
        vendor=_text(state.vendor),
        model=_text(state.model),
        firmware=_text(state.firmware),
    )


def connector_tree(
    connectors: Sequence[StoredConnector],
) -> tuple[StationStatus | None, list[EvseView]]:
    """The Station -> EVSE -> Connector tree; EVSE 0 / connector 0 is the station's own status."""
    station_status: StationStatus | None = None
    by_evse: dict[int, list[ConnectorView]] = {}
    for stored in connectors:
        c = stored.status
        status = c.status or "Unknown"
        if c.evse == 0:
            station_status = StationStatus(
                status=status, error_code=_text(c.error_code), updated=iso_ms(c.ts_ms)
            )
            continue
        by_evse.setdefault(c.evse, []).append(
            ConnectorView(
                connector_id=c.connector,
                status=status,
                error_code=_text(c.error_code),
                updated=iso_ms(c.ts_ms),
            )
        )
    evses = [
        EvseView(evse_id=evse, connectors=sorted(views, key=lambda c: c.connector_id))
        for evse, views in sorted(by_evse.items())
    ]
    return station_status, evses


def station_detail(record: StationRecord) -> StationDetail:
    station_status, evses = connector_tree(record.connectors)
    facts = record.facts
    return StationDetail(
        **station_summary(facts).model_dump(),
        serial=_text(facts.serial),
        gateway=_text(facts.gateway),
        connection_id=_text(facts.conn),
        boot_time=iso_ms(facts.boot_ts),
        connected_at=iso_ms(facts.connected_ts),
        disconnected_at=iso_ms(facts.disconnected_ts),
        station_status=station_status,
        evses=evses,
    )


def transaction_view(tx: Transaction) -> TransactionView:
    return TransactionView(
        transaction_id=tx.transaction_id,
        station=tx.station,
        proto=tx.proto,
        evse=tx.evse,
        connector=tx.connector,
        id_token=_text(tx.id_token),
        state="ended" if tx.state == "ended" else "active",
        started=iso_ms(tx.started_ms),
        ended=iso_ms(tx.ended_ms),
        meter_start_wh=tx.meter_start_wh,
        meter_stop_wh=tx.meter_stop_wh,
        energy_wh=tx.energy_wh,
        stop_reason=_text(tx.stop_reason),
        updated=iso_ms(tx.updated_ms),
        **_transaction_facts(tx),
    )


def _transaction_facts(tx: Transaction) -> dict[str, Any]:
    """The 2.x-style facts and derived views (csms.domain.transactions); none when the stored
    lists cannot be read as they should."""
    try:
        periods = txp.charging_periods(tx)
        missing, flags = txp.missing_seq_nos(tx), txp.flags(tx)
    except (TypeError, ValueError, IndexError):
        return {}
    return {
        "charging_state": _text(tx.charging_state),
        "trigger_reason": _text(tx.trigger_reason),
        "offline": tx.offline is True,
        "remote_start_id": tx.remote_start_id,
        "remote_start_uid": _text(tx.remote_start_uid),
        "closed_by": txp.closed_by(tx) or None,
        "flags": flags,
        "charging_periods": [
            ChargingPeriod(
                state=str(p["state"]),
                start=iso_ms(p["start_ms"]),
                end=iso_ms(p["end_ms"]),
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
    live: StationState | None,
    keep: Callable[[dm.Variable], bool] | None = None,
) -> DeviceModelView:
    """The API's device model; `live` (the station read model, None when nothing is stored)
    wins for online/last_seen and for whatever the model does not know yet."""
    m = model if model is not None else dm.DeviceModel.new(station_id)
    info = m.info
    now = live if live is not None else StationState(station_id)
    variables = sorted(
        (v for v in m.variables.values() if keep is None or keep(v)), key=_variable_order
    )
    reports = [_report_view(r) for _, r in sorted(m.reports.items())]
    return DeviceModelView(
        id=station_id,
        protocol=_text(now.protocol) or _text(info.protocol),
        online=live.online if live is not None else info.online,
        last_seen=iso_ms(max(info.last_seen, now.last_seen)),
        vendor=_text(now.vendor) or _text(info.vendor),
        model=_text(now.model) or _text(info.model),
        firmware=_text(now.firmware) or _text(info.firmware),
        serial=_text(now.serial) or _text(info.serial),
        boot_time=iso_ms(max(info.boot_ts, now.boot_ts)),
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
