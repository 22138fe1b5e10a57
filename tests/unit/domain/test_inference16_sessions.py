"""The 1.6 inference over whole sessions (plug first, authorize first, remote, faults,
offline gaps, two connectors), and its duplicates handling, state round trip and routing."""

from __future__ import annotations

import json

from csms.domain.inference16 import ConnectorState, connector_of, infer, infer_all
from tests.unit.domain.builders import T0, Session, boot16, start16, start16_result, status16
from tests.unit.domain.inference16_station import MIN, Station, triggers

# --- realistic sessions ---------------------------------------------------------------------


def test_full_session_plug_first() -> None:
    st = Station()
    st._add(st.s.call("BootNotification", boot16()))
    st.status("Available")
    st.status("Preparing")
    st.authorize()
    st.start(42)
    st.status("Charging")
    st.meter(42)
    st.status("SuspendedEV")
    st.status("Charging")
    st.stop(42, reason="Local")
    st.status("Finishing")
    st.status("Available")
    events = st.events()
    assert [(e.trigger_reason, e.charging_state, e.transaction_id) for e in events] == [
        ("CablePluggedIn", "EVConnected", None),
        ("Authorized", "EVConnected", None),
        ("ChargingStateChanged", "Charging", "42"),
        ("MeterValuePeriodic", "Charging", "42"),
        ("ChargingStateChanged", "SuspendedEV", "42"),
        ("ChargingStateChanged", "Charging", "42"),
        ("StopAuthorized", "EVConnected", "42"),
        ("EVDeparted", "Idle", None),
    ]
    assert all(e.inferred and e.evse_id == 1 and e.station == "CP-1" for e in events)
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)


def test_full_session_authorize_first() -> None:
    st = Station()
    st.status("Available")
    st.authorize(tag="CARD")
    st.status("Preparing")
    st.start(8, tag="CARD")
    st.status("Charging")
    st.stop(8)
    st.status("Finishing")
    st.status("Available")
    assert [(e.trigger_reason, e.id_token) for e in st.events()] == [
        ("Authorized", "CARD"),
        ("CablePluggedIn", ""),
        ("ChargingStateChanged", ""),
        ("StopAuthorized", ""),
        ("EVDeparted", ""),
    ]


def test_remote_start_and_remote_stop() -> None:
    st = Station()
    st.status("Available")
    st.csms_call("RemoteStartTransaction", {"idTag": "APP", "connectorId": 1})
    st.status("Preparing")
    st.start(9, tag="APP")
    st.status("Charging")
    st.csms_call("RemoteStopTransaction", {"transactionId": 9})
    st.stop(9)  # this firmware omits the reason after a remote stop
    st.status("Finishing")
    st.status("Available")
    assert triggers(st.events()) == [
        ("CablePluggedIn", "EVConnected"),
        ("RemoteStart", "EVConnected"),
        ("ChargingStateChanged", "Charging"),
        ("RemoteStop", "EVConnected"),
        ("EVDeparted", "Idle"),
    ]


def test_remote_start_for_another_connector_does_not_touch_this_one() -> None:
    st = Station()
    st.status("Available", connector=1)
    st.status("Available", connector=2)
    st.csms_call("RemoteStartTransaction", {"idTag": "APP", "connectorId": 2})
    st.status("Preparing", connector=1)
    st.start(10, connector=1)
    events = st.events()
    assert [e.trigger_reason for e in events if e.connector_id == 1] == [
        "CablePluggedIn",
        "Authorized",
    ]


def test_faulted_mid_session() -> None:
    st = Station()
    st.status("Preparing")
    st.start(11)
    st.status("Charging")
    st.status("Faulted", error="OverCurrentFailure")
    st.status("Charging")
    st.status("Faulted", error="OverCurrentFailure")
    st.stop(11, reason="EmergencyStop")
    st.status("Available")
    assert triggers(st.events())[2:] == [
        ("ChargingStateChanged", "Charging"),
        ("AbnormalCondition", "Charging"),
        ("AbnormalCondition", "Charging"),
        ("AbnormalCondition", "EVConnected"),
        ("EVDeparted", "Idle"),
    ]


def test_offline_gap_flags_queued_events_and_infers_the_departure() -> None:
    st = Station()
    st._add(st.s.connect())
    st.status("Preparing")
    st.start(13)
    st.status("Charging")
    stopped_at = st.tick()
    st._add(st.s.disconnect())
    st.tick(30 * MIN)  # the station comes back half an hour later
    st._add(st.s.connect())
    st.stop(13, reason="Local", ts=stopped_at)  # queued while offline
    st.status("Available")  # the current status: cable gone meanwhile
    events = st.events()
    assert triggers(events)[-2:] == [("StopAuthorized", "EVConnected"), ("EVDeparted", "Idle")]
    assert [e.offline for e in events] == [False, False, False, True, False]
    assert events[-2].ts_ms == stopped_at


def test_two_connectors_are_independent() -> None:
    st = Station()
    st.status("Preparing", connector=1)
    st.status("Preparing", connector=2)
    st.start(20, connector=1)
    st.start(21, connector=2)
    st.stop(21, reason="Remote")
    events = st.events()
    assert [(e.connector_id, e.trigger_reason, e.transaction_id) for e in events] == [
        (1, "CablePluggedIn", None),
        (2, "CablePluggedIn", None),
        (1, "Authorized", "20"),
        (2, "Authorized", "21"),
        (2, "RemoteStop", "21"),
    ]


# --- duplicates, state, routing -------------------------------------------------------------


def test_duplicated_frames_yield_no_second_event() -> None:
    st = Station()
    st.status("Preparing")
    st.start(30)
    st.status("Charging")
    st.stop(30, reason="Local")
    st.status("Available")
    once = st.events()
    twice = infer_all([f for f in st.frames for _ in range(2)])
    assert twice == once


def test_a_station_retry_with_the_same_uid_is_dropped() -> None:
    st = Station()
    first = st.status("Preparing")
    retry = st.s.call("StatusNotification", status16(1, "Preparing", ts=T0), uid=first.uid)
    state, events = infer(None, first)
    again, more = infer(state, retry)
    assert len(events) == 1 and more == [] and again == state


def test_state_round_trips_through_json() -> None:
    st = Station()
    st.status("Preparing")
    call = st.s.call("StartTransaction", start16(1, "T", 0, T0))
    state: ConnectorState | None = None
    for env in [*st.frames, call]:
        state, _ = infer(state, env, connector_id=1)
    assert state is not None
    text = json.dumps(state.to_dict())
    restored = ConnectorState.from_dict(json.loads(text))
    assert restored == state
    result = st.s.result(call, start16_result(77))
    assert infer(restored, result) == infer(state, result)
    assert infer(restored, result)[0].transaction_id == "77"


def test_routing_and_other_versions() -> None:
    st = Station()
    status = st.status("Preparing", connector=2)
    auth = st.s.call("Authorize", {"idTag": "X"})
    assert connector_of(status) == 2
    assert connector_of(auth) is None
    other = Session(proto="ocpp2.0.1").call("StatusNotification", status16(1, "Preparing"))
    state, events = infer(None, other, connector_id=1)
    assert events == [] and state.status == ""
    # connector 0 is the station itself: nothing to infer
    station = st.status("Faulted", connector=0)
    assert infer(None, station)[1] == []
