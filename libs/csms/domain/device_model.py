"""The device model of one station, folded from the frames of every version (pure).

A protocol-neutral Station -> EVSE -> Connector tree plus the station's components/variables:

* connect / disconnect / every inbound frame / BootNotification -> `info` (a StationState, the
  same fold as csms.domain.status: online, last_seen, vendor, model, firmware, serial).
* StatusNotification (1.6 connectorId N -> EVSE N / connector 1, 0 -> the station; 2.x
  evseId/connectorId) and NotifyEvent on the AvailabilityState variable -> `Status` of the
  station / EVSE / connector node. 1.6 error codes and 2.x `Faulted` -> a fault on that node.
* NotifyReport (reportData) -> `variables`: attributes per type (Actual/Target/MinSet/MaxSet)
  and characteristics; multi-part reports (requestId, seqNo, tbc) are tracked in `reports`.
* NotifyMonitoringReport -> monitors per variable, by monitor id.
* NotifyEvent -> the last event per variable (and its Actual value); `Problem` variables,
  techCode / Alerting events are faults of the component's node, `cleared` ends them.
* 1.6 GetConfiguration / ChangeConfiguration answers and 2.x GetVariables / SetVariables
  answers (inbound CALLRESULTs; their envelope names the CALL's action, and the CALL's payload
  comes as `CallContext`) -> variables. 1.6 keys go through the config_keys table; a key it
  does not map is kept as variable `<key>` of component `OCPP16` (V16_COMPONENT).
* MeterValues outside a transaction -> `metrics`: latest value per EVSE/connector, measurand,
  phase and location.

Every merge is ordered - statuses, faults, attributes, events and metrics by (timestamp,
gateway receive time, event id), report parts by seqNo - so a duplicated frame changes nothing
and a late older frame does not overwrite a newer fact. Faults are kept as tombstones when they
end, so an old "fault raised" arriving after its "cleared" stays cleared.
Names of components and variables are case-insensitive in 2.x: the variable index key is lower
case, the stored names keep the station's spelling.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from csms.commands.config_keys import V16_TO_V2
from csms.domain.frames import (
    OCPP2X,
    as_dict,
    as_int,
    as_list,
    as_number,
    as_str,
    inbound_call,
    inbound_result,
    parse_ts,
)
from csms.domain.meter_values import flatten
from csms.domain.status import StationState, apply_station, connector_statuses
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

# Component of 1.6 configuration keys the config_keys table does not map.
V16_COMPONENT = "OCPP16"
# The report-progress entries kept (oldest requestIds are dropped first).
MAX_REPORTS = 16

_ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
_CHARACTERISTICS = ("unit", "dataType", "minLimit", "maxLimit", "valuesList", "supportsMonitoring")
_NODE_COMPONENTS = frozenset({"chargingstation", "evse", "connector"})


# --- the model -----------------------------------------------------------------------------


@dataclass(slots=True)
class Status:
    """The latest reported status of a station, EVSE or connector."""

    status: str
    error_code: str = ""
    info: str = ""
    vendor_error_code: str = ""
    ts_ms: int = 0  # the station's clock (else the gateway's)
    received_ms: int = 0  # the gateway's clock
    event_id: str = ""
    source: str = ""  # StatusNotification | NotifyEvent
    proto: str = ""


@dataclass(slots=True)
class Fault:
    """A fault of a node; `active` False is the tombstone of an ended fault."""

    code: str
    info: str = ""
    active: bool = True
    ts_ms: int = 0
    received_ms: int = 0
    event_id: str = ""
    source: str = ""


@dataclass(slots=True)
class ConnectorNode:
    id: int
    status: Status | None = None
    faults: dict[str, Fault] = field(default_factory=dict)


@dataclass(slots=True)
class EvseNode:
    id: int
    status: Status | None = None  # EVSE-level (2.x AvailabilityState of component EVSE)
    faults: dict[str, Fault] = field(default_factory=dict)
    connectors: dict[int, ConnectorNode] = field(default_factory=dict)


@dataclass(slots=True)
class Attribute:
    """One variableAttribute (type is its key in Variable.attributes)."""

    value: str | None = None
    mutability: str = "ReadWrite"
    persistent: bool = False
    constant: bool = False
    ts_ms: int = 0
    received_ms: int = 0
    event_id: str = ""
    source: str = ""  # NotifyReport | NotifyEvent | GetConfiguration | GetVariables | ...


@dataclass(slots=True)
class Monitor:
    id: int
    type: str
    value: float
    severity: int
    transaction: bool = False
    ts_ms: int = 0


@dataclass(slots=True)
class Event:
    """The last NotifyEvent eventData of a variable."""

    event_id: int
    ts_ms: int
    trigger: str
    actual_value: str
    notification_type: str = ""
    cleared: bool = False
    tech_code: str = ""
    tech_info: str = ""
    cause: int | None = None
    transaction_id: str = ""
    monitor_id: int | None = None
    received_ms: int = 0
    envelope_id: str = ""


@dataclass(slots=True)
class Variable:
    """A component/variable of the station, with what is known of it."""

    component: str
    variable: str
    component_instance: str = ""
    variable_instance: str = ""
    evse: int | None = None
    connector: int | None = None
    attributes: dict[str, Attribute] = field(default_factory=dict)
    characteristics: dict[str, Any] = field(default_factory=dict)
    monitors: dict[str, Monitor] = field(default_factory=dict)  # by str(monitor id)
    last_event: Event | None = None
    v16_key: str = ""  # the 1.6 configuration key it came from, if any

    @property
    def key(self) -> str:
        return variable_key(
            self.component,
            self.variable,
            self.component_instance,
            self.variable_instance,
            self.evse,
            self.connector,
        )


@dataclass(slots=True)
class Metric:
    """The latest non-transaction sample of one measurand/phase/location of an EVSE/connector."""

    evse: int
    connector: int
    measurand: str
    phase: str
    location: str
    value: float
    unit: str
    context: str
    ts_ms: int
    received_ms: int = 0
    event_id: str = ""


@dataclass(slots=True)
class ReportProgress:
    """The parts of one multi-part report (NotifyReport / NotifyMonitoringReport) seen so far."""

    action: str
    request_id: int
    seq_nos: list[int] = field(default_factory=list)
    last_seq: int | None = None  # the seqNo of the part with tbc false
    generated_ms: int = 0

    @property
    def complete(self) -> bool:
        return self.last_seq is not None and self.seq_nos == list(range(self.last_seq + 1))


@dataclass(frozen=True, slots=True)
class CallContext:
    """The CSMS CALL a CALLRESULT answers (action and payload), for answers that need it."""

    action: str
    payload: Mapping[str, Any]


@dataclass(slots=True)
class DeviceModel:
    station: str
    info: StationState
    status: Status | None = None  # the station as a whole (1.6 connectorId 0)
    faults: dict[str, Fault] = field(default_factory=dict)
    evses: dict[int, EvseNode] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    reports: dict[str, ReportProgress] = field(default_factory=dict)

    @classmethod
    def new(cls, station: str) -> DeviceModel:
        return cls(station=station, info=StationState(station=station))

    def evse(self, evse_id: int) -> EvseNode:
        """The EVSE node, created when missing (mutates: for the fold's private copy)."""
        return self.evses.setdefault(evse_id, EvseNode(evse_id))

    def connector(self, evse_id: int, connector_id: int) -> ConnectorNode:
        node = self.evse(evse_id)
        return node.connectors.setdefault(connector_id, ConnectorNode(connector_id))

    def active_faults(self) -> list[tuple[int | None, int | None, str, Fault]]:
        """(evse, connector, key, fault) of every active fault; None = station / EVSE level."""
        out: list[tuple[int | None, int | None, str, Fault]] = [
            (None, None, k, f) for k, f in self.faults.items() if f.active
        ]
        for evse in self.evses.values():
            out += [(evse.id, None, k, f) for k, f in evse.faults.items() if f.active]
            for conn in evse.connectors.values():
                out += [(evse.id, conn.id, k, f) for k, f in conn.faults.items() if f.active]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (string keys only); from_dict is the inverse."""
        return {
            "station": self.station,
            "info": asdict(self.info),
            "status": None if self.status is None else asdict(self.status),
            "faults": _dump_map(self.faults),
            "evses": {str(k): _dump_evse(v) for k, v in self.evses.items()},
            "variables": {k: _dump_variable(v) for k, v in self.variables.items()},
            "metrics": _dump_map(self.metrics),
            "reports": _dump_map(self.reports),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceModel:
        station = str(d.get("station", ""))
        return cls(
            station=station,
            info=_load(StationState, {"station": station, **as_dict(d.get("info"))}),
            status=_load_opt(Status, d.get("status")),
            faults=_load_map(Fault, d.get("faults")),
            evses={int(k): _load_evse(v) for k, v in as_dict(d.get("evses")).items()},
            variables={k: _load_variable(v) for k, v in as_dict(d.get("variables")).items()},
            metrics=_load_map(Metric, d.get("metrics")),
            reports=_load_map(ReportProgress, d.get("reports")),
        )


def variable_key(
    component: str,
    variable: str,
    component_instance: str = "",
    variable_instance: str = "",
    evse: int | None = None,
    connector: int | None = None,
) -> str:
    """The index key of a variable: `<evse>/<connector>/Comp[inst].Var[inst]`, lower case
    ("-" for an absent EVSE or connector)."""
    comp = component + (f"[{component_instance}]" if component_instance else "")
    var = variable + (f"[{variable_instance}]" if variable_instance else "")
    where = f"{'-' if evse is None else evse}/{'-' if connector is None else connector}"
    return f"{where}/{comp}.{var}".lower()


def metric_key(evse: int, connector: int, measurand: str, phase: str, location: str) -> str:
    return f"{evse}/{connector}/{measurand}/{phase}/{location}"


# --- the fold ------------------------------------------------------------------------------


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
    m = copy.deepcopy(base)
    m.info = apply_station(base.info, env)
    handler(m, env, found[1])
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


# --- answers to CSMS CALLs -----------------------------------------------------------------


def _apply_result(m: DeviceModel, env: FrameEnvelope, call: CallContext | None) -> None:
    answer = inbound_result(env)
    if answer is None:
        return
    action = env.action or (call.action if call is not None else "")
    request = dict(call.payload) if call is not None and call.action == action else {}
    if env.proto == OcppVersion.V16:
        if action == "GetConfiguration":
            _get_configuration(m, env, answer)
        elif action == "ChangeConfiguration":
            _change_configuration(m, env, answer, request)
    elif env.proto in OCPP2X:
        if action == "GetVariables":
            _get_variables(m, env, answer)
        elif action == "SetVariables":
            _set_variables(m, env, answer, request)


def _v16_variable(m: DeviceModel, key: str) -> Variable:
    ref = V16_TO_V2.get(key)
    if ref is None:
        var = Variable(component=V16_COMPONENT, variable=key)
    else:
        var = Variable(
            component=ref.component,
            variable=ref.variable,
            component_instance=ref.component_instance or "",
            variable_instance=ref.variable_instance or "",
        )
    var = m.variables.setdefault(var.key, var)
    var.v16_key = key
    return var


def _get_configuration(m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any]) -> None:
    for raw in as_list(answer.get("configurationKey")):
        item = as_dict(raw)
        key = as_str(item.get("key"))
        if not key:
            continue
        value = item.get("value")
        var = _v16_variable(m, key)
        new = Attribute(
            value=value if isinstance(value, str) else None,
            mutability="ReadOnly" if item.get("readonly") is True else "ReadWrite",
            ts_ms=env.ts,
            received_ms=env.ts,
            event_id=env.id,
            source="GetConfiguration",
        )
        var.attributes["Actual"] = _newer_attr(var.attributes.get("Actual"), new)


def _change_configuration(
    m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any], request: dict[str, Any]
) -> None:
    key, value = as_str(request.get("key")), request.get("value")
    status = answer.get("status")
    if not key or not isinstance(value, str) or status not in ("Accepted", "RebootRequired"):
        return
    var = _v16_variable(m, key)
    # RebootRequired: the value only takes effect after a reboot, so it is the Target.
    kind = "Actual" if status == "Accepted" else "Target"
    old = var.attributes.get(kind)
    new = Attribute(
        value=value,
        mutability=old.mutability if old is not None else "ReadWrite",
        ts_ms=env.ts,
        received_ms=env.ts,
        event_id=env.id,
        source="ChangeConfiguration",
    )
    var.attributes[kind] = _newer_attr(old, new)


def _get_variables(m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any]) -> None:
    for raw in as_list(answer.get("getVariableResult")):
        item = as_dict(raw)
        value = item.get("attributeValue")
        if item.get("attributeStatus") != "Accepted" or not isinstance(value, str):
            continue
        var = _variable_of(m, item)
        if var is not None:
            _set_value(var, as_str(item.get("attributeType"), "Actual"), value, env, "GetVariables")


def _set_variables(
    m: DeviceModel, env: FrameEnvelope, answer: dict[str, Any], request: dict[str, Any]
) -> None:
    asked = {
        _address(as_dict(d), as_str(as_dict(d).get("attributeType"), "Actual")): as_dict(d).get(
            "attributeValue"
        )
        for d in as_list(request.get("setVariableData"))
    }
    for raw in as_list(answer.get("setVariableResult")):
        item = as_dict(raw)
        kind = as_str(item.get("attributeType"), "Actual")
        value = asked.get(_address(item, kind))
        if item.get("attributeStatus") != "Accepted" or not isinstance(value, str):
            continue
        var = _variable_of(m, item)
        if var is not None:
            _set_value(var, kind, value, env, "SetVariables")


def _address(data: dict[str, Any], kind: str) -> str:
    ref = _ref_of(data)
    return "" if ref is None else f"{variable_key(*ref)}#{kind}"


def _set_value(var: Variable, kind: str, value: str, env: FrameEnvelope, source: str) -> None:
    if kind not in _ATTRIBUTE_TYPES:
        return
    old = var.attributes.get(kind)
    new = Attribute(value=value, ts_ms=env.ts, received_ms=env.ts, event_id=env.id, source=source)
    if old is not None:
        new.mutability, new.persistent, new.constant = old.mutability, old.persistent, old.constant
    var.attributes[kind] = _newer_attr(old, new)


# --- helpers -------------------------------------------------------------------------------


_Ref = tuple[str, str, str, str, int | None, int | None]


def _ref_of(data: dict[str, Any]) -> _Ref | None:
    """(component, variable, instances, evse, connector) of a component/variable pair."""
    comp, var = as_dict(data.get("component")), as_dict(data.get("variable"))
    comp_name, var_name = as_str(comp.get("name")), as_str(var.get("name"))
    if not comp_name or not var_name:
        return None
    evse = as_dict(comp.get("evse"))
    evse_id = as_int(evse.get("id"))
    connector_id = as_int(evse.get("connectorId")) if evse_id is not None else None
    return (
        comp_name,
        var_name,
        as_str(comp.get("instance")),
        as_str(var.get("instance")),
        evse_id,
        connector_id,
    )


def _variable_of(m: DeviceModel, data: dict[str, Any]) -> Variable | None:
    """The variable a component/variable pair names (created when new); its EVSE and
    connector join the tree."""
    ref = _ref_of(data)
    if ref is None:
        return None
    comp, name, comp_inst, var_inst, evse, connector = ref
    if evse is not None and evse > 0:
        if connector is not None and connector > 0:
            m.connector(evse, connector)
        else:
            m.evse(evse)
    key = variable_key(*ref)
    var = m.variables.get(key)
    if var is None:
        var = Variable(comp, name, comp_inst, var_inst, evse, connector)
        m.variables[key] = var
    return var


def _node_faults(m: DeviceModel, var: Variable) -> dict[str, Fault]:
    if var.evse is None or var.evse <= 0:
        return m.faults
    if var.connector is not None and var.connector > 0:
        return m.connector(var.evse, var.connector).faults
    return m.evse(var.evse).faults


def _track_report(m: DeviceModel, action: str, payload: dict[str, Any], ts_ms: int) -> None:
    request_id, seq_no = as_int(payload.get("requestId")), as_int(payload.get("seqNo"))
    if request_id is None or seq_no is None or seq_no < 0:
        return
    key = f"{action}:{request_id}"
    progress = m.reports.get(key) or ReportProgress(action, request_id)
    progress.seq_nos = sorted({*progress.seq_nos, seq_no})
    if payload.get("tbc") is not True:
        last = progress.last_seq
        progress.last_seq = seq_no if last is None else max(last, seq_no)
    progress.generated_ms = max(progress.generated_ms, ts_ms)
    m.reports[key] = progress
    if len(m.reports) > MAX_REPORTS:
        oldest = min(m.reports, key=lambda k: (m.reports[k].generated_ms, k))
        del m.reports[oldest]


def _order(x: Status | Fault | Attribute | Metric) -> tuple[int, int, str]:
    """Newest last: the station's clock, then the gateway's, then the event id (a total order,
    so the merge never depends on the order frames are applied in)."""
    return (x.ts_ms, x.received_ms, x.event_id)


def _event_order(e: Event) -> tuple[int, int, str, int]:
    return (e.ts_ms, e.received_ms, e.envelope_id, e.event_id)


def _newer(old: Status | None, new: Status) -> Status:
    return new if old is None or _order(old) <= _order(new) else old


def _newer_attr(old: Attribute | None, new: Attribute) -> Attribute:
    return new if old is None or _order(old) <= _order(new) else old


def _merge_fault(faults: dict[str, Fault], key: str, new: Fault) -> None:
    # An ended fault is kept too (active False), even one never seen raised: its raising may
    # still arrive, late, and must then lose against the newer end.
    old = faults.get(key)
    if old is None or _order(old) <= _order(new):
        faults[key] = new


# --- serialization -------------------------------------------------------------------------


def _dump_map(items: Mapping[str, Any]) -> dict[str, Any]:
    return {k: asdict(v) for k, v in items.items()}


def _dump_evse(node: EvseNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "status": None if node.status is None else asdict(node.status),
        "faults": _dump_map(node.faults),
        "connectors": {str(k): asdict(c) for k, c in node.connectors.items()},
    }


def _dump_variable(var: Variable) -> dict[str, Any]:
    return asdict(var)


def _load(cls: Any, d: Any) -> Any:
    """A flat dataclass from a dict; unknown keys (a newer writer's fields) are ignored."""
    data = as_dict(d)
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _load_opt(cls: Any, d: Any) -> Any:
    return None if d is None else _load(cls, d)


def _load_map(cls: Any, d: Any) -> dict[str, Any]:
    return {str(k): _load(cls, v) for k, v in as_dict(d).items()}


def _load_connector(d: Any) -> ConnectorNode:
    data = as_dict(d)
    return ConnectorNode(
        id=as_int(data.get("id")) or 0,
        status=_load_opt(Status, data.get("status")),
        faults=_load_map(Fault, data.get("faults")),
    )


def _load_evse(d: Any) -> EvseNode:
    data = as_dict(d)
    return EvseNode(
        id=as_int(data.get("id")) or 0,
        status=_load_opt(Status, data.get("status")),
        faults=_load_map(Fault, data.get("faults")),
        connectors={int(k): _load_connector(v) for k, v in as_dict(data.get("connectors")).items()},
    )


def _load_variable(d: Any) -> Variable:
    data = as_dict(d)
    var: Variable = _load(Variable, data)
    var.attributes = _load_map(Attribute, data.get("attributes"))
    var.characteristics = dict(as_dict(data.get("characteristics")))
    var.monitors = _load_map(Monitor, data.get("monitors"))
    var.last_event = _load_opt(Event, data.get("last_event"))
    return var
