"""What the fold and the CALL results share: finding a variable (and its node) from a
component/variable pair, report progress, and the ordered merges (newest wins, whatever the
order frames are applied in)."""

from __future__ import annotations

from typing import Any

from csms.domain.device_model.model import DeviceModel
from csms.domain.device_model.parts import (
    MAX_REPORTS,
    Attribute,
    Event,
    Fault,
    Metric,
    ReportProgress,
    Status,
    Variable,
    variable_key,
)
from csms.domain.frames import as_dict, as_int, as_str

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
