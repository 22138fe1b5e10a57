"""The device-model step over the in-memory store (JSON round trip included)."""

from __future__ import annotations

from typing import Any

import orjson

from csms.domain import device_model
from csms.domain.device_model import CallContext, DeviceModel, apply, variable_key
from csms.envelope import FrameEnvelope
from csms.projections.device_models import FOLDED_CALLS, material_change, project_device_model
from csms.projections.pipeline import Processors
from csms.readmodels.device_models import decode_call as parse_call
from csms.readmodels.device_models import decode_device_model as parse_model
from csms.settings import Topics
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    boot201,
    iso,
    meter_values16,
    mv16,
    start16,
    status16,
    status201,
    sv16,
)
from tests.unit.processors.fakes import (
    MemoryDeviceModelStore,
    MemoryInferenceStore,
    MemoryStationStore,
    MemoryTransactionStore,
)

HEARTBEAT = variable_key("OCPPCommCtrlr", "HeartbeatInterval")


def report_part(request_id: int, seq_no: int, tbc: bool, *items: tuple[str, str, str]) -> Any:
    return {
        "requestId": request_id,
        "generatedAt": iso(T0),
        "seqNo": seq_no,
        "tbc": tbc,
        "reportData": [
            {
                "component": {"name": comp},
                "variable": {"name": var},
                "variableAttribute": [{"type": "Actual", "value": value}],
                "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": True},
            }
            for comp, var, value in items
        ],
    }


async def run(store: MemoryDeviceModelStore, *envs: FrameEnvelope) -> list[bool]:
    return [await project_device_model(env, store) for env in envs]


def stored(store: MemoryDeviceModelStore, station: str) -> DeviceModel:
    model = store.model(station)
    assert model is not None
    return model


async def test_status_changes_are_written_and_the_tree_follows_them() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-2", "ocpp2.0.1")
    changed = await run(
        store,
        s.connect(),
        s.call("BootNotification", boot201()),
        s.call("StatusNotification", status201(1, 1, "Available", T0)),
        s.call("StatusNotification", status201(1, 2, "Available", T0)),
    )
    assert changed == [True, True, True, True]
    assert store.model_writes == 4
    status = await run(store, s.call("StatusNotification", status201(1, 2, "Occupied", T0 + 5)))
    assert status == [True]
    model = stored(store, "DM-2")
    assert (model.info.vendor, model.info.protocol) == ("ABB", "ocpp2.0.1")
    assert sorted(model.evses[1].connectors) == [1, 2]
    occupied = model.evses[1].connectors[2].status
    assert occupied is not None and occupied.status == "Occupied"

    s16 = Session("DM-16")
    await run(
        store,
        s16.connect(),
        s16.call("StatusNotification", status16(2, "Faulted", "GroundFailure", ts=T0)),
    )
    model16 = stored(store, "DM-16")
    assert [(e, c, f.code) for e, c, _, f in model16.active_faults()] == [(2, 1, "GroundFailure")]


async def test_multi_part_notify_report_is_tracked_until_complete() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-R", "ocpp2.0.1")
    parts = [
        s.call(
            "NotifyReport", report_part(7, 0, True, ("OCPPCommCtrlr", "HeartbeatInterval", "60"))
        ),
        s.call("NotifyReport", report_part(7, 2, False, ("TxCtrlr", "EVConnectionTimeOut", "30"))),
        s.call("NotifyReport", report_part(7, 1, True, ("SampledDataCtrlr", "Enabled", "true"))),
    ]
    assert await run(store, s.connect(), parts[0], parts[1]) == [True, True, True]
    progress = stored(store, "DM-R").reports["NotifyReport:7"]
    assert (progress.seq_nos, progress.complete) == ([0, 2], False)  # seqNo 1 still missing
    assert await run(store, parts[2]) == [True]
    model = stored(store, "DM-R")
    assert model.reports["NotifyReport:7"].complete
    hb = model.variables[HEARTBEAT]
    assert hb.attributes["Actual"].value == "60"
    assert hb.characteristics == {"dataType": "integer", "supportsMonitoring": True}
    assert len(model.variables) == 3


async def test_16_get_configuration_answer_uses_the_stored_call() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-GC", conn="c-7")
    call = s.csms_call("GetConfiguration", {"key": []}, "cmd-1")
    assert await run(store, s.connect(), call) == [True, False]  # the CALL is kept, not folded
    assert store.calls[("DM-GC", "c-7", "cmd-1")] == CallContext("GetConfiguration", {"key": []})
    keys = [
        {"key": "HeartbeatInterval", "value": "300", "readonly": False},
        {"key": "NumberOfConnectors", "value": "2", "readonly": True},
    ]
    assert await run(store, s.answer(call, {"configurationKey": keys})) == [True]
    assert store.calls == {}  # dropped once the model is saved
    model = stored(store, "DM-GC")
    hb = model.variables[HEARTBEAT]
    assert (hb.attributes["Actual"].value, hb.v16_key) == ("300", "HeartbeatInterval")
    vendor = model.variables[variable_key(device_model.V16_COMPONENT, "NumberOfConnectors")]
    assert vendor.attributes["Actual"].mutability == "ReadOnly"


async def test_16_change_configuration_value_comes_from_the_call() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-CC")
    accepted = s.csms_call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, "a")
    reboot = s.csms_call(
        "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "5"}, "b"
    )
    await run(store, s.connect(), accepted, reboot)
    assert await run(store, s.answer(accepted, {"status": "Accepted"})) == [True]
    assert await run(store, s.answer(reboot, {"status": "RebootRequired"})) == [True]
    model = stored(store, "DM-CC")
    assert model.variables[HEARTBEAT].attributes["Actual"].value == "60"
    sampled = model.variables[variable_key("SampledDataCtrlr", "TxUpdatedInterval")]
    assert sampled.attributes["Target"].value == "5"  # takes effect after a reboot
    assert "Actual" not in sampled.attributes
    # An answer whose CALL is unknown (expired, another connection) sets nothing.
    stray = s.csms_call("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "1"}, "c")
    other_conn = Session("DM-CC", conn="conn-2", t0=s.now)
    writes = store.model_writes
    assert await run(store, other_conn.answer(stray, {"status": "Accepted"})) == [False]
    assert store.model_writes == writes
    assert stored(store, "DM-CC").variables[HEARTBEAT].attributes["Actual"].value == "60"


async def test_duplicated_frames_change_nothing() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-DUP", "ocpp2.0.1")
    frames = [
        s.connect(),
        s.call("BootNotification", boot201()),
        s.call("StatusNotification", status201(1, 1, "Available", T0)),
        s.call(
            "NotifyReport", report_part(3, 0, False, ("OCPPCommCtrlr", "HeartbeatInterval", "9"))
        ),
        s.call("StatusNotification", status201(1, 1, "Occupied", T0 + 9)),
    ]
    await run(store, *frames)
    before, writes = store.models["DM-DUP"], store.model_writes
    assert await run(store, *frames) == [False] * len(frames)  # Kafka redelivers them all
    assert await run(store, frames[2]) == [False]  # an older status after a newer one
    assert (store.models["DM-DUP"], store.model_writes) == (before, writes)
    status = stored(store, "DM-DUP").evses[1].connectors[1].status
    assert status is not None and status.status == "Occupied"


async def test_heartbeats_and_transaction_frames_are_not_written() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-HB")
    await run(store, s.connect(), s.call("BootNotification", boot16()))
    writes = store.model_writes
    quiet = [
        s.call("Heartbeat", {}),
        s.call("Authorize", {"idTag": "T"}),
        s.call("StartTransaction", start16(1, "T", 0, T0)),
        s.call("MeterValues", meter_values16(1, mv16(T0, sv16("10")), transaction_id=4)),
        s.result(s.call("Heartbeat", {}), {"currentTime": iso(T0)}),
    ]
    assert await run(store, *quiet) == [False] * len(quiet)
    assert store.model_writes == writes
    # A meter value outside a transaction is a metric: written.
    outside = s.call("MeterValues", meter_values16(0, mv16(T0, sv16("230", measurand="Voltage"))))
    assert await run(store, outside) == [True]


async def test_disconnect_is_written_but_last_seen_alone_is_not() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-ON")
    connect = s.connect()
    await run(store, connect)
    model = stored(store, "DM-ON")
    later = apply(model, s.call("Heartbeat", {}))
    assert later.info.last_seen > model.info.last_seen
    assert not material_change(model, later)
    assert await run(store, s.disconnect()) == [True]
    assert stored(store, "DM-ON").info.online is False
    assert await run(store, connect) == [False]  # an overtaken connect


async def test_odd_input_never_raises() -> None:
    store = MemoryDeviceModelStore()
    s = Session("DM-ODD")
    base = s.csms_call("GetConfiguration", {}, "x")
    odd = [
        FrameEnvelope(**{**base.to_dict(), "frame": "not json"}),
        FrameEnvelope(**{**base.to_dict(), "frame": '[2, "x", "Reset", {}]'}),  # action mismatch
        FrameEnvelope(**{**base.to_dict(), "dir": "in", "kind": "result", "frame": "[3]"}),
        FrameEnvelope(**{**base.to_dict(), "station": ""}),
        s.call("StatusNotification", {"connectorId": "x"}),
        s.call("StatusNotification", status16(1, "Available"), err="FormatViolation"),
        s.call("NotifyReport", {"reportData": "nope"}),
        # A decision of the CSMS's own (csms.policy), which every agent also consumes.
        FrameEnvelope(**{**base.to_dict(), "kind": "policy", "action": "CloseTransaction"}),
    ]
    await run(store, *odd)
    assert store.calls == {}
    model = store.model("DM-ODD")
    assert model is None or (model.evses, model.variables) == ({}, {})
    assert parse_model("DM-ODD", "{bad") is None
    assert parse_model("DM-ODD", orjson.dumps({"station": "OTHER"})) is None
    assert parse_model("DM-ODD", orjson.dumps({"station": "DM-ODD", "evses": {"x": {}}})) is None
    assert parse_call('{"action": "GetVariables"}') is None


async def test_station_passwords_never_reach_the_read_model() -> None:
    store = MemoryDeviceModelStore()
    s16 = Session("DM-PW-16")
    change = s16.csms_call("ChangeConfiguration", {"key": "AuthorizationKey", "value": "pw-1"}, "a")
    get = s16.csms_call("GetConfiguration", {}, "b")
    keys16 = [{"key": "AuthorizationKey", "value": "pw-2", "readonly": False}]
    await run(store, s16.connect(), change, get)
    assert list(store.calls) == [("DM-PW-16", "conn-1", "b")]  # the password's CALL is not kept
    await run(
        store,
        s16.answer(change, {"status": "Accepted"}),
        s16.answer(get, {"configurationKey": keys16}),
    )
    password = stored(store, "DM-PW-16").variables[
        variable_key("SecurityCtrlr", "BasicAuthPassword")
    ]
    assert (password.v16_key, password.attributes["Actual"].value) == ("AuthorizationKey", None)

    s2 = Session("DM-PW-2", "ocpp2.0.1")
    data = [
        {"attributeValue": "pw-3", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}},
        {"attributeValue": "30", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "HeartbeatInterval"}},
    ]  # fmt: skip
    set_call = s2.csms_call("SetVariables", {"setVariableData": data}, "c")
    results = [
        {"attributeStatus": "Accepted", "component": d["component"], "variable": d["variable"]}
        for d in data
    ]
    write_only = report_part(1, 0, False, ("ISO15118Ctrlr", "SeccId", "pw-4"))
    write_only["reportData"][0]["variableAttribute"][0]["mutability"] = "WriteOnly"
    await run(
        store,
        s2.connect(),
        set_call,
        s2.answer(set_call, {"setVariableResult": results}),
        s2.call("NotifyReport", write_only),
    )
    model = stored(store, "DM-PW-2")
    assert model.variables[HEARTBEAT].attributes["Actual"].value == "30"
    assert variable_key("SecurityCtrlr", "BasicAuthPassword") not in model.variables
    assert (
        model.variables[variable_key("ISO15118Ctrlr", "SeccId")].attributes["Actual"].value is None
    )
    assert not any(b"pw-" in raw for raw in store.models.values())


def test_the_calls_skipped_unread_are_the_ones_the_fold_ignores() -> None:
    # The step's filter names the domain fold's handlers (plus BootNotification, which sets info).
    handlers = set(device_model._CALL_HANDLERS)  # private on purpose: kept in sync
    assert handlers | {"BootNotification"} == FOLDED_CALLS


async def test_processors_register_the_device_model_agent() -> None:
    store = MemoryDeviceModelStore()

    class NoOutputs:
        async def send(self, topic: str, key: bytes, value: bytes) -> None:
            raise AssertionError("the device model publishes nothing")

    processors = Processors(
        Topics(),
        NoOutputs(),
        transactions=MemoryTransactionStore(),
        stations=MemoryStationStore(),
        device_models=store,
        inference=MemoryInferenceStore(),
    )
    step = processors.steps["device_model"]
    s = Session("DM-P")
    assert await step(s.call("StatusNotification", status16(1, "Available", ts=T0)))
    assert stored(store, "DM-P").evses[1].connectors[1].status is not None
