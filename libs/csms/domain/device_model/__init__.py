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

from csms.domain.device_model.fold import _CALL_HANDLERS, apply
from csms.domain.device_model.model import DeviceModel
from csms.domain.device_model.parts import (
    MAX_REPORTS,
    V16_COMPONENT,
    Attribute,
    CallContext,
    ConnectorNode,
    Event,
    EvseNode,
    Fault,
    Metric,
    Monitor,
    ReportProgress,
    Status,
    Variable,
    metric_key,
    variable_key,
)

__all__ = [
    "MAX_REPORTS",
    "V16_COMPONENT",
    "_CALL_HANDLERS",
    "Attribute",
    "CallContext",
    "ConnectorNode",
    "DeviceModel",
    "Event",
    "EvseNode",
    "Fault",
    "Metric",
    "Monitor",
    "ReportProgress",
    "Status",
    "Variable",
    "apply",
    "metric_key",
    "variable_key",
]
