from __future__ import annotations

import itertools
from typing import Any

import orjson

from csms.domain.device_model import (
    V16_COMPONENT,
    CallContext,
    DeviceModel,
    apply,
    metric_key,
    variable_key,
)
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    boot201,
    iso,
    meter_values16,
    meter_values201,
    mv16,
    mv201,
    status16,
    status201,
    sv16,
    sv201,
)


def fold(*envs: FrameEnvelope, model: DeviceModel | None = None) -> DeviceModel:
    for env in envs:
        model = apply(model, env)
    assert model is not None
    return model


def comp(name: str, evse: int | None = None, connector: int | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name}
    if evse is not None:
        c["evse"] = {"id": evse} if connector is None else {"id": evse, "connectorId": connector}
    return c


def report_item(component: dict[str, Any], variable: str, value: str, **kw: Any) -> dict[str, Any]:
    attr: dict[str, Any] = {"type": "Actual", "value": value, "mutability": "ReadWrite"}
    attr.update(kw)
    return {"component": component, "variable": {"name": variable}, "variableAttribute": [attr]}


def event(
    event_id: int,
    ts: int,
    component: dict[str, Any],
    variable: str,
    value: str,
    **kw: Any,
) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "timestamp": iso(ts),
        "trigger": kw.pop("trigger", "Delta"),
        "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": component,
        "variable": {"name": variable},
        **kw,
    }


def test_16_boot_status_tree_and_station_status() -> None:
    s = Session("CP-16")
    model = fold(
        s.connect(),
        s.call("BootNotification", boot16()),
        s.call("StatusNotification", status16(0, "Available", ts=T0 + 1)),
        s.call("StatusNotification", status16(1, "Preparing", ts=T0 + 2)),
        s.call("StatusNotification", status16(2, "Available", ts=T0 + 3)),
    )
    assert (model.info.vendor, model.info.model, model.info.serial) == (
        "Alfen BV",
        "NG920",
        "ACE0001",
    )
    assert model.info.online is True and model.info.protocol == "ocpp1.6"
    assert model.status is not None and model.status.status == "Available"
    assert sorted(model.evses) == [1, 2]  # connector N = EVSE N / connector 1
    assert list(model.evses[1].connectors) == [1]
    conn = model.evses[1].connectors[1].status
    assert conn is not None and (conn.status, conn.ts_ms) == ("Preparing", T0 + 2)


def test_201_boot_and_status_tree() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    model = fold(
        s.connect(),
        s.call("BootNotification", boot201()),
        s.call("StatusNotification", status201(1, 1, "Available", T0)),
        s.call("StatusNotification", status201(1, 2, "Occupied", T0)),
        s.call("StatusNotification", status201(2, 1, "Unavailable", T0)),
    )
    assert (model.info.vendor, model.info.firmware, model.info.protocol) == (
        "ABB",
        "1.7.2",
        "ocpp2.0.1",
    )
    assert sorted(model.evses[1].connectors) == [1, 2]
    status = model.evses[2].connectors[1].status
    assert status is not None and status.status == "Unavailable"


def test_online_offline_and_last_seen() -> None:
    s = Session("CP-1")
    connect = s.connect()
    heartbeat = s.call("Heartbeat", {})
    disconnect = s.disconnect()
    model = fold(connect, heartbeat)
    assert model.info.online and model.info.last_seen == heartbeat.ts
    model = fold(disconnect, model=model)
    assert not model.info.online and model.info.disconnected_ts == disconnect.ts


def test_16_error_code_is_a_connector_fault_until_no_error() -> None:
    s = Session("CP-16")
    faulted = s.call(
        "StatusNotification",
        {**status16(1, "Faulted", "GroundFailure", ts=T0 + 10), "vendorErrorCode": "E42"},
    )
    model = fold(faulted)
    faults = model.active_faults()
    assert [(e, c, f.code, f.info) for e, c, _, f in faults] == [(1, 1, "GroundFailure", "E42")]
    model = fold(s.call("StatusNotification", status16(1, "Available", ts=T0 + 20)), model=model)
    assert model.active_faults() == []
    # the fault, redelivered late, does not come back: the tombstone is newer
    assert fold(faulted, model=model).active_faults() == []


def test_out_of_order_and_duplicated_statuses() -> None:
    s = Session("CP-16")
    new = s.call("StatusNotification", status16(1, "Charging", ts=T0 + 20))
    old = s.call("StatusNotification", status16(1, "Preparing", ts=T0 + 10))  # arrives late
    model = fold(new, old)
    status = model.evses[1].connectors[1].status
    assert status is not None and status.status == "Charging"
    assert fold(new, model=model) == model  # the same frame twice
    assert fold(new, old, new, old) == model


def test_any_order_of_statuses_and_faults_gives_the_same_model() -> None:
    s = Session("CP-16")
    frames = [
        s.call("StatusNotification", status16(1, "Available", ts=T0 + 10)),
        s.call("StatusNotification", status16(1, "Faulted", "GroundFailure", ts=T0 + 20)),
        s.call("StatusNotification", status16(1, "Available", ts=T0 + 30)),
        s.call("StatusNotification", status16(1, "Charging", ts=T0 + 40)),
    ]
    expected = fold(*frames)
    for order in itertools.permutations(frames):
        assert fold(*order) == expected
    status = expected.evses[1].connectors[1].status
    assert status is not None and status.status == "Charging"
    assert expected.active_faults() == []


def test_apply_does_not_mutate_its_input() -> None:
    """The fold copies only what a frame's handler changes (StatusNotification: the nodes and
    fault maps; MeterValues: the metrics): the input must stay as it was, at every level."""
    s = Session("CP-16")
    voltage = sv16("230.0", measurand="Voltage", phase="L1", unit="V")
    before = fold(
        s.call("StatusNotification", status16(0, "Available", ts=T0)),
        s.call("StatusNotification", status16(1, "Available", ts=T0)),
        s.call("StatusNotification", status16(2, "Faulted", "GroundFailure", ts=T0)),
        s.call("MeterValues", meter_values16(0, mv16(T0, voltage))),
    )
    snapshot = before.to_dict()
    later = [
        s.call("StatusNotification", status16(1, "Charging", "HighTemperature", ts=T0 + 5)),
        s.call("StatusNotification", status16(2, "Available", ts=T0 + 5)),
        s.call("StatusNotification", status16(3, "Available", ts=T0 + 5)),
        s.call("StatusNotification", status16(0, "Faulted", "PowerMeterFailure", ts=T0 + 5)),
        s.call("MeterValues", meter_values16(0, mv16(T0 + 5, sv16("1.5", unit="A")))),
    ]
    for env in later:
        after = apply(before, env)
        assert after.to_dict() != snapshot
        assert before.to_dict() == snapshot


def three_part_report(s: Session) -> list[FrameEnvelope]:
    def part(seq: int, tbc: bool, *items: dict[str, Any]) -> FrameEnvelope:
        payload = {
            "requestId": 7,
            "generatedAt": iso(T0),
            "seqNo": seq,
            "tbc": tbc,
            "reportData": list(items),
        }
        return s.call("NotifyReport", payload)

    return [
        part(
            0,
            True,
            report_item(comp("OCPPCommCtrlr"), "HeartbeatInterval", "300"),
            report_item(comp("ChargingStation"), "Model", "Terra", mutability="ReadOnly"),
        ),
        part(
            1,
            True,
            {
                **report_item(comp("EVSE", 1), "Power", "22000", mutability="ReadOnly"),
                "variableCharacteristics": {
                    "unit": "W",
                    "dataType": "decimal",
                    "maxLimit": 22000,
                    "supportsMonitoring": True,
                },
            },
        ),
        part(
            2,
            False,
            {
                "component": comp("Connector", 1, 2),
                "variable": {"name": "ConnectorType"},
                "variableAttribute": [
                    {"value": "cType2", "mutability": "ReadOnly", "constant": True},
                    {"type": "Target", "value": "cType2"},
                ],
            },
        ),
    ]


def test_three_part_notify_report_assembles_in_any_order() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    parts = three_part_report(s)
    in_order = fold(*parts)
    progress = in_order.reports["NotifyReport:7"]
    assert progress.complete and progress.seq_nos == [0, 1, 2]
    assert len(in_order.variables) == 4

    hb = in_order.variables[variable_key("OCPPCommCtrlr", "HeartbeatInterval")]
    assert hb.attributes["Actual"].value == "300"
    power = in_order.variables[variable_key("EVSE", "Power", evse=1)]
    assert power.characteristics == {
        "unit": "W",
        "dataType": "decimal",
        "maxLimit": 22000,
        "supportsMonitoring": True,
    }
    assert power.attributes["Actual"].mutability == "ReadOnly"
    ctype = in_order.variables[variable_key("connector", "connectortype", evse=1, connector=2)]
    assert ctype.attributes["Actual"].constant is True
    assert ctype.attributes["Target"].value == "cType2"
    assert sorted(in_order.evses[1].connectors) == [2]  # the report builds the tree too

    partial = fold(parts[2], parts[0])
    assert not partial.reports["NotifyReport:7"].complete  # seqNo 1 missing
    shuffled = fold(parts[1], model=partial)
    assert shuffled.reports["NotifyReport:7"].complete
    assert shuffled.variables == in_order.variables
    assert fold(*parts, model=in_order) == in_order  # redelivered parts change nothing


def test_monitoring_report() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    payload = {
        "requestId": 3,
        "seqNo": 0,
        "generatedAt": iso(T0),
        "monitor": [
            {
                "component": comp("EVSE", 1),
                "variable": {"name": "Power"},
                "variableMonitoring": [
                    {
                        "id": 11,
                        "transaction": False,
                        "value": 23000,
                        "type": "UpperThreshold",
                        "severity": 4,
                    },
                    {"id": 12, "transaction": True, "value": 60, "type": "Periodic", "severity": 8},
                ],
            }
        ],
    }
    model = fold(s.call("NotifyMonitoringReport", payload))
    var = model.variables[variable_key("EVSE", "Power", evse=1)]
    assert sorted(var.monitors) == ["11", "12"]
    assert (var.monitors["11"].type, var.monitors["11"].value, var.monitors["11"].severity) == (
        "UpperThreshold",
        23000.0,
        4,
    )
    assert var.monitors["12"].transaction is True
    assert model.reports["NotifyMonitoringReport:3"].complete


def test_notify_event_last_value_faults_and_availability() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    temp = comp("EVSE", 1)

    def notify(*events: dict[str, Any]) -> FrameEnvelope:
        return s.call(
            "NotifyEvent", {"generatedAt": iso(T0), "seqNo": 0, "eventData": list(events)}
        )

    later = notify(event(2, T0 + 20, temp, "Temperature", "71"))
    earlier = notify(event(1, T0 + 10, temp, "Temperature", "65"))
    raised = notify(
        event(3, T0 + 30, comp("Connector", 1, 1), "Problem", "true", techCode="PE-LOST")
    )
    unavailable = notify(event(4, T0 + 40, comp("Connector", 1, 1), "AvailabilityState", "Faulted"))
    model = fold(later, earlier, raised, unavailable)

    var = model.variables[variable_key("EVSE", "Temperature", evse=1)]
    assert var.last_event is not None and var.last_event.actual_value == "71"
    assert var.attributes["Actual"].value == "71"  # the late older event does not win
    faults = model.active_faults()
    assert [(e, c, f.code) for e, c, _, f in faults] == [(1, 1, "PE-LOST")]
    status = model.evses[1].connectors[1].status
    assert status is not None and (status.status, status.source) == ("Faulted", "NotifyEvent")

    cleared = notify(
        event(5, T0 + 50, comp("Connector", 1, 1), "Problem", "false", cleared=True, cause=3)
    )
    model = fold(cleared, model=model)
    assert model.active_faults() == []
    assert fold(raised, model=model).active_faults() == []  # late duplicate stays cleared


def test_16_get_configuration_maps_standard_keys_and_keeps_vendor_keys() -> None:
    s = Session("CP-16")
    answer = {
        "configurationKey": [
            {"key": "HeartbeatInterval", "value": "900", "readonly": False},
            {"key": "TransactionMessageAttempts", "value": "3", "readonly": True},
            {"key": "NumberOfConnectors", "value": "2", "readonly": True},
            {"key": "AlfenLedBrightness", "value": "80", "readonly": False},
        ],
        "unknownKey": ["Nope"],
    }
    result = inbound_result(s, "GetConfiguration", answer)
    model = apply(None, result, CallContext("GetConfiguration", {}))

    hb = model.variables[variable_key("OCPPCommCtrlr", "HeartbeatInterval")]
    assert (hb.attributes["Actual"].value, hb.v16_key) == ("900", "HeartbeatInterval")
    attempts = model.variables[
        variable_key("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent")
    ]
    assert attempts.attributes["Actual"].mutability == "ReadOnly"
    vendor = model.variables[variable_key(V16_COMPONENT, "AlfenLedBrightness")]
    assert vendor.attributes["Actual"].value == "80"
    assert variable_key(V16_COMPONENT, "NumberOfConnectors") in model.variables
    assert len(model.variables) == 4  # unknown keys are not variables


def test_16_change_configuration_needs_the_call() -> None:
    s = Session("CP-16")
    request = {"key": "HeartbeatInterval", "value": "60"}
    result = inbound_result(s, "ChangeConfiguration", {"status": "Accepted"})
    model = apply(None, result, CallContext("ChangeConfiguration", request))
    hb = model.variables[variable_key("OCPPCommCtrlr", "HeartbeatInterval")]
    assert hb.attributes["Actual"].value == "60"
    assert apply(None, result).variables == {}  # without the CALL there is no value to keep


def test_201_get_and_set_variables_answers() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    get = inbound_result(
        s,
        "GetVariables",
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "120",
                    "component": comp("OCPPCommCtrlr"),
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attributeStatus": "UnknownVariable",
                    "component": comp("Foo"),
                    "variable": {"name": "Bar"},
                },
            ]
        },
    )
    model = apply(None, get)
    key = variable_key("OCPPCommCtrlr", "HeartbeatInterval")
    assert list(model.variables) == [key]
    assert model.variables[key].attributes["Actual"].value == "120"

    request = {
        "setVariableData": [
            {
                "attributeValue": "60",
                "component": comp("OCPPCommCtrlr"),
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    }
    answer = {
        "setVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": comp("OCPPCommCtrlr"),
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    }
    result = inbound_result(s, "SetVariables", answer)
    model = apply(model, result, CallContext("SetVariables", request))
    assert model.variables[key].attributes["Actual"].value == "60"


def test_non_transaction_metrics_keep_the_latest_value() -> None:
    s16 = Session("CP-16")
    newer = s16.call(
        "MeterValues",
        meter_values16(0, mv16(T0 + 20, sv16("231.5", measurand="Voltage", phase="L1", unit="V"))),
    )
    older = s16.call(
        "MeterValues",
        meter_values16(0, mv16(T0 + 10, sv16("229.0", measurand="Voltage", phase="L1", unit="V"))),
    )
    in_tx = s16.call(
        "MeterValues", meter_values16(1, mv16(T0 + 30, sv16("1234")), transaction_id=5)
    )
    model = fold(newer, older, in_tx)
    assert list(model.metrics) == [metric_key(0, 0, "Voltage", "L1", "Outlet")]
    assert model.metrics[metric_key(0, 0, "Voltage", "L1", "Outlet")].value == 231.5

    s2 = Session("CP-2", "ocpp2.0.1")
    mv = meter_values201(1, mv201(T0, sv201(7.4, measurand="Power.Active.Import", unit="kW")))
    model2 = fold(s2.call("MeterValues", mv))
    metric = model2.metrics[metric_key(1, 0, "Power.Active.Import", "", "Outlet")]
    assert (metric.value, metric.unit) == (7.4, "kW")


def test_round_trip_through_json() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    model = fold(
        s.connect(),
        s.call("BootNotification", boot201()),
        s.call("StatusNotification", status201(1, 1, "Available", T0)),
        *three_part_report(s),
        s.call(
            "NotifyEvent",
            {
                "generatedAt": iso(T0),
                "seqNo": 0,
                "eventData": [event(1, T0, comp("EVSE", 1), "Problem", "true", techCode="X")],
            },
        ),
        s.call("MeterValues", meter_values201(1, mv201(T0, sv201(1.0)))),
    )
    text = orjson.dumps(model.to_dict())
    assert model.to_json() == text  # the fast encoder writes exactly the same JSON
    back = DeviceModel.from_dict(orjson.loads(text))
    assert back == model
    assert back.reports["NotifyReport:7"].complete
    assert apply(back, s.call("Heartbeat", {})).info.last_seen > model.info.last_seen


def inbound_result(s: Session, action: str, payload: dict[str, Any]) -> FrameEnvelope:
    """The station's CALLRESULT to a CSMS CALL (its envelope names the CALL's action)."""
    s.now += 1000
    uid = f"csms-{s.now}"
    return FrameEnvelope(
        id=f"res-{s.now}",
        ts=s.now,
        station=s.station,
        gw=s.gw,
        conn=s.conn,
        proto=s.proto,
        dir="in",
        kind="result",
        uid=uid,
        action=action,
        frame=orjson.dumps([3, uid, payload]).decode(),
    )
