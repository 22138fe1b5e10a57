"""The fold: one envelope into a station's device model (`apply`), with the handlers of the
station's CALLs (StatusNotification, NotifyReport, NotifyMonitoringReport, NotifyEvent,
MeterValues); CALLRESULTs go to call_results."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from csms.domain.device_model.call_results import _apply_result
from csms.domain.device_model.merge import (
    _event_order,
    _merge_fault,
    _newer,
    _newer_attr,
    _node_faults,
    _order,
    _track_report,
    _variable_of,
)
from csms.domain.device_model.model import DeviceModel
from csms.domain.device_model.parts import (
    _ATTRIBUTE_TYPES,
    Attribute,
    CallContext,
    Event,
    Fault,
    Metric,
    Monitor,
    Status,
    Variable,
    metric_key,
)
from csms.domain.frames import as_dict, as_int, as_list, as_number, as_str, inbound_call, parse_ts
from csms.domain.meter_values import flatten
from csms.domain.status import apply_station, connector_statuses
from csms.envelope import FrameEnvelope

_CHARACTERISTICS = ("unit", "dataType", "minLimit", "maxLimit", "valuesList", "supportsMonitoring")
_NODE_COMPONENTS = frozenset({"chargingstation", "evse", "connector"})


def apply(
    model: DeviceModel | None, env: FrameEnvelope, call: CallContext | None = None
) -> DeviceModel:
    """Fold one envelope into the station's device model; returns a new object.

    `call` is the CALL a CALLRESULT answers (needed for 1.6 ChangeConfiguration and 2.x
    SetVariables answers, which do not repeat the value that was set); other frames ignore it.
    """
    base = DeviceModel.new(env.station) if model is None else model
    if env.kind == "result" and env.dir == "in" and not env.err:
        m = copy.deepcopy(base)
        m.info = apply_station(base.info, env)
        _apply_result(m, env, call)
        return m
    found = inbound_call(env)
    handler = None if found is None else _CALL_HANDLERS.get(found[0])
    if found is None or handler is None:
        # Most frames (Heartbeat, Authorize, transactions...) only touch `info`: a shallow copy
        # suffices, since the fold never mutates what it shares with its input.
        m = copy.copy(base)
        m.info = apply_station(base.info, env)
        return m
    m = _COPIES.get(found[0], copy.deepcopy)(base)
    m.info = apply_station(base.info, env)
    handler(m, env, found[1])
    return m


def _copy_nodes(base: DeviceModel) -> DeviceModel:
    """A copy whose station/EVSE/connector nodes and fault maps are its own, sharing the rest:
    all StatusNotification changes (it replaces Status and Fault objects, never mutates them).
    A deep copy of a whole model cost ≈ 60 µs per frame."""
    m = copy.copy(base)
    m.faults = dict(base.faults)
    m.evses = {}
    for evse_id, evse in base.evses.items():
        node = m.evses[evse_id] = copy.copy(evse)
        node.faults = dict(evse.faults)
        node.connectors = {}
        for conn_id, conn in evse.connectors.items():
            c = node.connectors[conn_id] = copy.copy(conn)
            c.faults = dict(conn.faults)
    return m


def _copy_metrics(base: DeviceModel) -> DeviceModel:
    """A copy with its own metric map (MeterValues outside transactions replaces metrics)."""
    m = copy.copy(base)
    m.metrics = dict(base.metrics)
    return m


def _status_notification(m: DeviceModel, env: FrameEnvelope, payload: dict[str, Any]) -> None:
    for cs in connector_statuses(env):
        status = Status(
            status=cs.status,
            error_code=cs.error_code,
            info=as_str(payload.get("info")),
            vendor_error_code=as_str(payload.get("vendorErrorCode")),
            ts_ms=cs.ts_ms,
            received_ms=env.ts,
            event_id=env.id,
            source="StatusNotification",
            proto=env.proto,
        )
        faulty = cs.error_code not in ("", "NoError") or cs.status == "Faulted"
        code = cs.error_code if cs.error_code not in ("", "NoError") else cs.status
        fault = Fault(
            code=code if faulty else "",
            info=status.info or status.vendor_error_code,
            active=faulty,
            ts_ms=cs.ts_ms,
            received_ms=env.ts,
            event_id=env.id,
            source="StatusNotification",
        )
        if cs.evse == 0:
            m.status = _newer(m.status, status)
            _merge_fault(m.faults, "StatusNotification", fault)
        else:
            node = m.connector(cs.evse, cs.connector)
            node.status = _newer(node.status, status)
            _merge_fault(node.faults, "StatusNotification", fault)


def _notify_report(m: DeviceModel, env: FrameEnvelope, payload: dict[str, Any]) -> None:
    ts_ms = parse_ts(payload.get("generatedAt"), env.ts)
    _track_report(m, "NotifyReport", payload, ts_ms)
    for item in as_list(payload.get("reportData")):
        data = as_dict(item)
        var = _variable_of(m, data)
        if var is None:
            continue
        for raw in as_list(data.get("variableAttribute")):
            attr = as_dict(raw)
            kind = as_str(attr.get("type"), "Actual")
            if kind not in _ATTRIBUTE_TYPES:
                continue
            value = attr.get("value")
            new = Attribute(
                value=value if isinstance(value, str) else None,
                mutability=as_str(attr.get("mutability"), "ReadWrite"),
                persistent=attr.get("persistent") is True,
                constant=attr.get("constant") is True,
                ts_ms=ts_ms,
                received_ms=env.ts,
                event_id=env.id,
                source="NotifyReport",
            )
            var.attributes[kind] = _newer_attr(var.attributes.get(kind), new)
        chars = as_dict(data.get("variableCharacteristics"))
        if chars:
            var.characteristics = {k: chars[k] for k in _CHARACTERISTICS if k in chars}


def _notify_monitoring_report(m: DeviceModel, env: FrameEnvelope, payload: dict[str, Any]) -> None:
    ts_ms = parse_ts(payload.get("generatedAt"), env.ts)
    _track_report(m, "NotifyMonitoringReport", payload, ts_ms)
    for item in as_list(payload.get("monitor")):
        data = as_dict(item)
        var = _variable_of(m, data)
        if var is None:
            continue
        for raw in as_list(data.get("variableMonitoring")):
            mon = as_dict(raw)
            monitor_id, value = as_int(mon.get("id")), as_number(mon.get("value"))
            if monitor_id is None or value is None:
                continue
            new = Monitor(
                id=monitor_id,
                type=as_str(mon.get("type")),
                value=value,
                severity=as_int(mon.get("severity")) or 0,
                transaction=mon.get("transaction") is True,
                ts_ms=ts_ms,
            )
            old = var.monitors.get(str(monitor_id))
            if old is None or old.ts_ms <= ts_ms:
                var.monitors[str(monitor_id)] = new


def _notify_event(m: DeviceModel, env: FrameEnvelope, payload: dict[str, Any]) -> None:
    for item in as_list(payload.get("eventData")):
        data = as_dict(item)
        event_id = as_int(data.get("eventId"))
        var = _variable_of(m, data)
        if var is None or event_id is None:
            continue
        event = Event(
            event_id=event_id,
            ts_ms=parse_ts(data.get("timestamp"), env.ts),
            trigger=as_str(data.get("trigger")),
            actual_value=as_str(data.get("actualValue")),
            notification_type=as_str(data.get("eventNotificationType")),
            cleared=data.get("cleared") is True,
            tech_code=as_str(data.get("techCode")),
            tech_info=as_str(data.get("techInfo")),
            cause=as_int(data.get("cause")),
            transaction_id=as_str(data.get("transactionId")),
            monitor_id=as_int(data.get("variableMonitoringId")),
            received_ms=env.ts,
            envelope_id=env.id,
        )
        _apply_event(m, env, var, event)


def _apply_event(m: DeviceModel, env: FrameEnvelope, var: Variable, event: Event) -> None:
    last = var.last_event
    if last is None or _event_order(last) <= _event_order(event):
        var.last_event = event
    actual = Attribute(
        value=event.actual_value,
        ts_ms=event.ts_ms,
        received_ms=env.ts,
        event_id=env.id,
        source="NotifyEvent",
    )
    old = var.attributes.get("Actual")
    if old is not None:  # an event reports the value, not the attribute's nature
        actual.mutability, actual.persistent, actual.constant = (
            old.mutability,
            old.persistent,
            old.constant,
        )
    var.attributes["Actual"] = _newer_attr(old, actual)
    if var.variable.lower() == "availabilitystate":
        _availability(m, env, var, event)
    fault = _event_fault(var, event, env)
    if fault is not None:
        faults = _node_faults(m, var)
        _merge_fault(faults, f"{var.component}.{var.variable}".lower(), fault)


def _event_fault(var: Variable, event: Event, env: FrameEnvelope) -> Fault | None:
    """The fault an event raises or ends; None when it is no fault at all (a Delta, Periodic
    report of an ordinary value)."""
    problem = var.variable.lower() == "problem"
    if event.cleared or (problem and event.actual_value.lower() == "false"):
        active = False
    elif problem or event.tech_code or event.trigger == "Alerting":
        active = True
    else:
        return None
    return Fault(
        code=event.tech_code or f"{var.component}.{var.variable}",
        info=event.tech_info or event.actual_value,
        active=active,
        ts_ms=event.ts_ms,
        received_ms=env.ts,
        event_id=env.id,
        source="NotifyEvent",
    )


def _availability(m: DeviceModel, env: FrameEnvelope, var: Variable, event: Event) -> None:
    """2.x reports availability as AvailabilityState of ChargingStation / EVSE / Connector."""
    component = var.component.lower()
    if component not in _NODE_COMPONENTS:
        return
    status = Status(
        status=event.actual_value,
        ts_ms=event.ts_ms,
        received_ms=env.ts,
        event_id=env.id,
        source="NotifyEvent",
        proto=env.proto,
    )
    if component == "chargingstation" or var.evse is None:
        m.status = _newer(m.status, status)
    elif component == "connector" or var.connector is not None:
        conn = m.connector(var.evse, var.connector or 1)
        conn.status = _newer(conn.status, status)
    else:
        evse = m.evse(var.evse)
        evse.status = _newer(evse.status, status)


def _meter_values(m: DeviceModel, env: FrameEnvelope, payload: dict[str, Any]) -> None:
    del payload  # flatten() reads the envelope itself
    for s in flatten(env):
        if s.transaction_id:
            continue  # transaction samples belong to the transaction
        key = metric_key(s.evse, s.connector, s.measurand, s.phase, s.location)
        new = Metric(
            evse=s.evse,
            connector=s.connector,
            measurand=s.measurand,
            phase=s.phase,
            location=s.location,
            value=s.value,
            unit=s.unit,
            context=s.context,
            ts_ms=s.ts_ms,
            received_ms=env.ts,
            event_id=env.id,
        )
        old = m.metrics.get(key)
        if old is None or _order(old) <= _order(new):
            m.metrics[key] = new


_CALL_HANDLERS = {
    "StatusNotification": _status_notification,
    "NotifyReport": _notify_report,
    "NotifyMonitoringReport": _notify_monitoring_report,
    "NotifyEvent": _notify_event,
    "MeterValues": _meter_values,
}
# How much of the model a CALL's handler may change, hence must be copied (default: all).
_COPIES: dict[str, Callable[[DeviceModel], DeviceModel]] = {
    "StatusNotification": _copy_nodes,
    "MeterValues": _copy_metrics,
}
