from __future__ import annotations

from dataclasses import replace

from csms.domain.model import ConnectorStatus
from csms.domain.status import (
    StationState,
    apply_station,
    connector_field,
    connector_json,
    connector_statuses,
    status_verdict,
)
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import T0, Session, boot16, boot201, status16, status201


def fold(*envs: FrameEnvelope, state: StationState | None = None) -> StationState | None:
    for env in envs:
        state = apply_station(state, env)
    return state


def test_connect_boot_and_frames_of_a_16_station() -> None:
    s = Session("CP-16", conn="c-1", gw="gw-3")
    connect = s.connect()
    boot = s.call("BootNotification", boot16())
    heartbeat = s.call("Heartbeat", {})
    answer = s.result(heartbeat, {"currentTime": "2025-03-01T08:00:03Z"})

    state = fold(connect, boot, heartbeat, answer)

    assert state == StationState(
        station="CP-16",
        protocol="ocpp1.6",
        online=True,
        last_seen=heartbeat.ts,  # what the CSMS sent is not the station being seen
        gateway="gw-3",
        conn="c-1",
        vendor="Alfen BV",
        model="NG920",
        firmware="5.8.1",
        serial="ACE0001",
        boot_ts=boot.ts,
        connected_ts=connect.ts,
        disconnected_ts=0,
    )


def test_201_boot_fields_and_optional_serial() -> None:
    s = Session("CP-2", "ocpp2.0.1")
    state = fold(s.connect(), s.call("BootNotification", boot201(serial=None)))
    assert state is not None
    assert (state.protocol, state.vendor, state.model, state.firmware, state.serial) == (
        "ocpp2.0.1",
        "ABB",
        "Terra AC",
        "1.7.2",
        "",
    )


def test_16_deprecated_serial_spelling_is_read() -> None:
    payload = {"chargePointVendor": "V", "chargePointModel": "M", "chargeBoxSerialNumber": "S-1"}
    state = fold(Session().call("BootNotification", payload))
    assert state is not None and state.serial == "S-1"


def test_a_rejected_boot_is_seen_but_not_believed() -> None:
    s = Session()
    boot = s.call("BootNotification", boot16(vendor="Evil"), err="FormationViolation")
    state = fold(boot)
    assert state is not None
    assert (state.vendor, state.last_seen) == ("", boot.ts)


def test_disconnect_marks_offline() -> None:
    s = Session()
    connect, disconnect = s.connect(), s.disconnect()
    state = fold(connect, disconnect)
    assert state is not None
    assert (state.online, state.connected_ts, state.disconnected_ts, state.conn) == (
        False,
        connect.ts,
        disconnect.ts,
        "conn-1",
    )


def test_a_late_disconnect_of_the_replaced_connection_is_ignored() -> None:
    old = Session("CP", conn="old", gw="gw-a")
    old_connect = old.connect()
    new = Session("CP", conn="new", gw="gw-b", t0=old.now + 10_000)
    new_connect = new.connect()
    old.now = new.now + 5_000  # gw-a notices the dead socket after the reconnect
    state = fold(old_connect, new_connect, old.disconnect())
    assert state is not None
    assert (state.online, state.conn, state.gateway, state.connected_ts) == (
        True,
        "new",
        "gw-b",
        new_connect.ts,
    )


def test_an_overtaken_connect_is_ignored() -> None:
    old = Session("CP", conn="old")
    old_connect = old.connect()
    new = Session("CP", conn="new", t0=old.now + 10_000)
    new_connect = new.connect()
    state = fold(new_connect, old_connect)
    assert state is not None and (state.conn, state.online) == ("new", True)


def test_reapplying_connect_and_disconnect_changes_nothing() -> None:
    s = Session()
    envs = [s.connect(), s.call("BootNotification", boot16()), s.disconnect()]
    once = fold(*envs)
    assert fold(*envs, state=once) == once
    assert fold(envs[0], state=once) == once  # a redelivered connect does not revive it


def test_changed_fields_are_strings_and_only_what_moved() -> None:
    s = Session()
    first = fold(s.connect())
    assert first is not None
    assert first.changed_fields(None) == {
        "protocol": "ocpp1.6",
        "online": "1",
        "last_seen": str(first.last_seen),
        "gateway": "gw-0",
        "conn": "conn-1",
        "vendor": "",
        "model": "",
        "firmware": "",
        "serial": "",
        "boot_ts": "0",
        "connected_ts": str(first.connected_ts),
        "disconnected_ts": "0",
    }
    heartbeat = s.call("Heartbeat", {})
    second = apply_station(first, heartbeat)
    assert second.changed_fields(first) == {"last_seen": str(heartbeat.ts)}
    assert second.changed_fields(second) == {}


def test_station_fields_round_trip_from_redis_strings_or_bytes() -> None:
    state = fold(Session().connect(), Session().call("BootNotification", boot16()))
    assert state is not None
    fields = state.to_fields()
    assert StationState.from_fields(state.station, fields) == state
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()}
    assert StationState.from_fields(state.station, as_bytes) == state
    broken = StationState.from_fields("X", {"online": "yes", "last_seen": "soon", "extra": "1"})
    assert broken == StationState(station="X")


def test_16_status_notification_maps_connectors_onto_evses() -> None:
    s = Session("CP-16")
    with_ts = s.call("StatusNotification", status16(2, "Charging", ts=T0 + 5))
    station = s.call("StatusNotification", status16(0, "Unavailable", "GroundFailure"))

    assert connector_statuses(with_ts) == [
        ConnectorStatus(
            station="CP-16",
            evse=2,
            connector=1,
            status="Charging",
            error_code="NoError",
            ts_ms=T0 + 5,
            proto="ocpp1.6",
            event_id=with_ts.id,
        )
    ]
    [whole] = connector_statuses(station)
    assert (whole.evse, whole.connector, whole.status, whole.error_code, whole.ts_ms) == (
        0,
        0,
        "Unavailable",
        "GroundFailure",
        station.ts,  # no timestamp in the payload: the gateway's receive time
    )


def test_201_status_notification() -> None:
    s = Session("CP-2", "ocpp2.1")
    env = s.call("StatusNotification", status201(1, 2, "Occupied", T0))
    [status] = connector_statuses(env)
    assert (status.evse, status.connector, status.status, status.error_code, status.proto) == (
        1,
        2,
        "Occupied",
        "",
        "ocpp2.1",
    )
    assert connector_field(status) == "1/2"
    assert connector_json(status, env.ts) == {
        "station": "CP-2",
        "evse": 1,
        "connector": 2,
        "status": "Occupied",
        "error_code": "",
        "ts_ms": T0,
        "proto": "ocpp2.1",
        "event_id": env.id,
        "received_ms": env.ts,
    }


def test_notifications_are_ordered_by_receive_time_and_the_last_one_is_republished() -> None:
    s = Session()
    # The station's clock went back after a reboot: its own timestamps do not order anything.
    first = s.call("StatusNotification", status16(1, "Charging", ts=T0 + 3_600_000))
    second = s.call("StatusNotification", status16(1, "Finishing", ts=T0))
    [a], [b] = connector_statuses(first), connector_statuses(second)

    assert status_verdict(a, first.ts, None) == "apply"
    assert status_verdict(b, second.ts, connector_json(a, first.ts)) == "apply"
    assert status_verdict(a, first.ts, connector_json(b, second.ts)) == "skip"  # older
    # The stored notification itself, redelivered: its message may never have reached Kafka.
    assert status_verdict(b, second.ts, connector_json(b, second.ts)) == "republish"
    assert status_verdict(a, first.ts, {"status": "Available", "ts": 1}) == "apply"


def test_statuses_only_from_accepted_well_formed_notifications() -> None:
    s16, s201 = Session(), Session(proto="ocpp2.0.1")
    good = s16.call("StatusNotification", status16(1, "Available"))
    assert len(connector_statuses(good)) == 1
    for env in [
        s16.call("StatusNotification", status16(1, "Available"), err="FormationViolation"),
        s16.call("StatusNotification", {"connectorId": -1, "status": "Available"}),
        s16.call("StatusNotification", {"connectorId": 1}),
        s16.call("StatusNotification", {"connectorId": "1", "status": "Available"}),
        s16.call("Heartbeat", {}),
        s16.result(good, {}),
        s201.call("StatusNotification", status16(1, "Available")),
        s201.call("StatusNotification", {"evseId": 1, "connectorStatus": "Available"}),
        Session(proto="ocpp3").call("StatusNotification", status16(1, "Available")),
    ]:
        assert connector_statuses(env) == []


def test_weird_boot_payloads_keep_defaults() -> None:
    s = Session(proto="ocpp2.0.1")
    state = fold(s.call("BootNotification", {"chargingStation": "ABB", "reason": 5}))
    assert state is not None and (state.vendor, state.model, state.protocol) == (
        "",
        "",
        "ocpp2.0.1",
    )
    unknown = fold(Session(proto="ocpp9").call("BootNotification", boot16()))
    assert unknown is not None and unknown.vendor == ""


def test_boot_after_reconnect_updates_the_firmware() -> None:
    s = Session()
    state = fold(s.call("BootNotification", boot16(fw="5.8.1")))
    assert state is not None
    updated = fold(s.call("BootNotification", boot16(fw="6.0.0")), state=state)
    assert updated == replace(state, firmware="6.0.0", boot_ts=s.now, last_seen=s.now)
