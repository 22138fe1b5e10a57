"""The parts of a station's device model: node statuses and faults, the EVSE / connector
nodes, variables with their attributes, monitors and last event, metrics, report progress, the
CALL a CALLRESULT answers, and the keys that index variables and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Component of 1.6 configuration keys the config_keys table does not map.
V16_COMPONENT = "OCPP16"
# The report-progress entries kept (oldest requestIds are dropped first).
MAX_REPORTS = 16

_ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")


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
