from __future__ import annotations

import json
from typing import Any

import pytest

from csms.domain.inference16 import (
    DEFAULT_RULES,
    ConnectorState,
    InferredEvent,
    Rules,
    RulesRegistry,
    connector_of,
    infer,
    infer_all,
)
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    meter_values16,
    mv16,
    start16,
    start16_result,
    status16,
    stop16,
    sv16,
)

MIN = 60_000


class Station:
    """A 1.6 station talking to the CSMS; records every envelope in order."""

    def __init__(self, station: str = "CP-1") -> None:
        self.s = Session(station)
        self.frames: list[FrameEnvelope] = []
        self.clock = T0

    def _add(self, env: FrameEnvelope) -> FrameEnvelope:
        self.frames.append(env)
        return env

    def tick(self, ms: int = MIN) -> int:
        self.clock += ms
        self.s.now = self.clock  # the gateway receives it at once (station clock in sync)
        return self.clock

    def status(self, status: str, connector: int = 1, error: str = "NoError") -> FrameEnvelope:
        return self._add(
            self.s.call("StatusNotification", status16(connector, status, error, ts=self.tick()))
        )

    def authorize(self, tag: str = "TAG1", result: str = "Accepted") -> FrameEnvelope:
        call = self._add(self.s.call("Authorize", {"idTag": tag}))
        return self._add(self.s.result(call, {"idTagInfo": {"status": result}}))

    def start(
        self, tx: int, connector: int = 1, tag: str = "TAG1", result: str = "Accepted"
    ) -> FrameEnvelope:
        call = self._add(
            self.s.call("StartTransaction", start16(connector, tag, 1000, self.tick()))
        )
        return self._add(self.s.result(call, start16_result(tx, result)))

    def meter(self, tx: int, connector: int = 1, context: str = "Sample.Periodic") -> FrameEnvelope:
        mv = mv16(self.tick(), sv16("1500", context=context))
        return self._add(
            self.s.call("MeterValues", meter_values16(connector, mv, transaction_id=tx))
        )

    def stop(self, tx: int, reason: str | None = None, ts: int | None = None) -> FrameEnvelope:
        stamp = ts if ts is not None else self.tick()
        return self._add(self.s.call("StopTransaction", stop16(tx, 2000, stamp, reason=reason)))

    def csms_call(self, action: str, payload: dict[str, Any]) -> FrameEnvelope:
        return self._add(self.s.csms_call(action, payload))

    def events(self, rules: Rules | RulesRegistry = DEFAULT_RULES) -> list[InferredEvent]:
        return infer_all(self.frames, rules)


def triggers(events: list[InferredEvent]) -> list[tuple[str, str]]:
    return [(e.trigger_reason, e.charging_state) for e in events]


# --- single rules ---------------------------------------------------------------------------


def test_available_to_preparing_without_authorization_is_a_plug_in() -> None:
    st = Station()
    st.status("Available")
    st.status("Preparing")
    assert triggers(st.events()) == [("CablePluggedIn", "EVConnected")]


def test_preparing_after_authorize_is_the_authorization_and_the_plug_is_decided_later() -> None:
    st = Station()
    st.status("Available")
    st.authorize()
    st.status("Preparing")
    assert triggers(st.events()) == [("Authorized", "Idle")]
    st.start(7)
    assert triggers(st.events())[1:] == [("CablePluggedIn", "EVConnected")]


def test_authorize_while_plugged_is_reported_at_once() -> None:
    st = Station()
    st.status("Available")
    st.status("Preparing")
    st.authorize(tag="T9")
    events = st.events()
    assert triggers(events) == [("CablePluggedIn", "EVConnected"), ("Authorized", "EVConnected")]
    assert events[1].id_token == "T9"


def test_rejected_authorize_reports_nothing() -> None:
    st = Station()
    st.status("Available")
    st.authorize(result="Invalid")
    st.status("Preparing")
    assert triggers(st.events()) == [("CablePluggedIn", "EVConnected")]


def test_preparing_to_available_without_transaction_is_ev_departed() -> None:
    st = Station()
    st.status("Preparing")
    st.status("Available")
    assert triggers(st.events()) == [("CablePluggedIn", "EVConnected"), ("EVDeparted", "Idle")]


def test_authorization_without_plug_times_out() -> None:
    st = Station()
    st.status("Available")  # Authorize names no connector: it reaches the known ones
    st.authorize()
    st.status("Preparing")
    st.status("Available")
    assert triggers(st.events()) == [("Authorized", "Idle"), ("EVConnectTimeout", "Idle")]


def test_held_authorization_expires() -> None:
    st = Station()
    st.status("Available")
    st.authorize()
    st.tick(10 * MIN)
    st.status("Preparing")
    assert triggers(st.events()) == [("CablePluggedIn", "EVConnected")]


def test_charging_to_suspended_is_a_charging_state_change() -> None:
    st = Station()
    st.status("Preparing")
    st.start(1)
    st.status("Charging")
    st.status("SuspendedEV")
    st.status("SuspendedEVSE")
    assert triggers(st.events())[-3:] == [
        ("ChargingStateChanged", "Charging"),
        ("ChargingStateChanged", "SuspendedEV"),
        ("ChargingStateChanged", "SuspendedEVSE"),
    ]


def test_finishing_to_available_is_ev_departed() -> None:
    st = Station()
    st.status("Preparing")
    st.start(1)
    st.status("Charging")
    st.stop(1, reason="Local")
    st.status("Finishing")
    st.status("Available")
    assert triggers(st.events())[-2:] == [("StopAuthorized", "EVConnected"), ("EVDeparted", "Idle")]


@pytest.mark.parametrize(
    ("reason", "trigger", "state"),
    [
        (None, "StopAuthorized", "EVConnected"),
        ("Local", "StopAuthorized", "EVConnected"),
        ("Remote", "RemoteStop", "EVConnected"),
        ("EVDisconnected", "EVCommunicationLost", "Idle"),
        ("DeAuthorized", "Deauthorized", "EVConnected"),
        ("HardReset", "ResetCommand", "EVConnected"),
        ("SoftReset", "ResetCommand", "EVConnected"),
        ("UnlockCommand", "UnlockCommand", "EVConnected"),
        ("EmergencyStop", "AbnormalCondition", "EVConnected"),
        ("PowerLoss", "AbnormalCondition", "EVConnected"),
        ("Other", "AbnormalCondition", "EVConnected"),
    ],
)
def test_stop_reasons(reason: str | None, trigger: str, state: str) -> None:
    st = Station()
    st.status("Preparing")
    st.start(3)
    st.status("Charging")
    st.stop(3, reason=reason)
    last = st.events()[-1]
    assert (last.trigger_reason, last.charging_state, last.transaction_id) == (trigger, state, "3")


def test_ev_disconnected_stop_is_not_followed_by_a_second_departure() -> None:
    st = Station()
    st.status("Preparing")
    st.start(3)
    st.status("Charging")
    st.stop(3, reason="EVDisconnected")
    st.status("Finishing")
    st.status("Available")
    assert triggers(st.events())[-1] == ("EVCommunicationLost", "Idle")


def test_stop_for_an_unknown_transaction_infers_nothing() -> None:
    st = Station()
    st.status("Preparing")
    st.stop(99, reason="Local")
    assert triggers(st.events()) == [("CablePluggedIn", "EVConnected")]


def test_faulted_is_an_abnormal_condition_once() -> None:
    st = Station()
    st.status("Available")
    st.status("Faulted", error="GroundFailure")
    st.status("Faulted", error="GroundFailure")
    st.status("Unavailable")
    st.status("Reserved")
    assert triggers(st.events()) == [("AbnormalCondition", "Idle")]


def test_start_with_an_invalid_tag_is_deauthorized() -> None:
    st = Station()
    st.status("Preparing")
    st.start(4, result="Invalid")
    assert [e.trigger_reason for e in st.events()] == [
        "CablePluggedIn",
        "Authorized",
        "Deauthorized",
    ]


def test_meter_values_events_and_rule_switch() -> None:
    st = Station()
    st.status("Preparing")
    st.start(5)
    st.meter(5)
    st.meter(5, context="Sample.Clock")
    st.meter(6)  # another connector's transaction id: not ours
    events = st.events()
    assert [e.trigger_reason for e in events[-2:]] == ["MeterValuePeriodic", "MeterValueClock"]
    assert all(e.transaction_id == "5" for e in events[-2:])
    quiet = st.events(Rules(meter_value_events=False))
    assert "MeterValuePeriodic" not in [e.trigger_reason for e in quiet]


def test_meter_values_adopt_a_transaction_whose_start_result_was_lost() -> None:
    st = Station()
    st.status("Charging")
    st.meter(12)
    st.stop(12, reason="Local")
    assert [(e.trigger_reason, e.transaction_id) for e in st.events()] == [
        ("CablePluggedIn", None),
        ("ChargingStateChanged", None),
        ("MeterValuePeriodic", "12"),
        ("StopAuthorized", "12"),
    ]


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


# --- vendor rules ---------------------------------------------------------------------------


def test_vendor_rule_suspended_ev_before_charging_is_ev_detected() -> None:
    st = Station()
    st.status("Preparing")
    st.start(40)
    st.status("SuspendedEV")
    st.status("Charging")
    st.status("SuspendedEV")
    default = [e.trigger_reason for e in st.events()][-3:]
    vendor = [e.trigger_reason for e in st.events(Rules(suspended_ev_before_charging=True))][-3:]
    assert default == ["ChargingStateChanged"] * 3
    assert vendor == ["EVDetected", "ChargingStateChanged", "ChargingStateChanged"]


def test_vendor_rule_preparing_never_means_plugged() -> None:
    st = Station()
    st.status("Preparing")
    st.start(41)
    rules = Rules(preparing_means_plugged=False)
    assert triggers(st.events(rules)) == [
        ("CablePluggedIn", "EVConnected"),
        ("Authorized", "EVConnected"),
    ]
    assert st.events(rules)[0].source_uid != st.events()[0].source_uid  # start, not status


def test_vendor_rule_finishing_means_unplugged() -> None:
    st = Station()
    st.status("Preparing")
    st.start(43)
    st.status("Charging")
    st.status("Finishing")
    st.stop(43, reason="EVDisconnected")
    st.status("Available")
    rules = Rules(finishing="unplugged")
    assert triggers(st.events(rules))[-2:] == [
        ("EVDeparted", "Idle"),
        ("EVCommunicationLost", "Idle"),
    ]
    assert triggers(st.events())[-2:] == [
        ("ChargingStateChanged", "EVConnected"),
        ("EVCommunicationLost", "Idle"),
    ]


def test_registry_picks_rules_by_boot_vendor_and_model() -> None:
    registry = RulesRegistry.from_dict(
        {
            "default": {"meter_value_events": False},
            "models": [
                {"vendor": "alfen*", "model": "NG9*", "rules": {"finishing": "unplugged"}},
                {"vendor": "*", "model": "*", "rules": {"stop_triggers": {"Other": "EVDeparted"}}},
            ],
        }
    )
    alfen = registry.rules_for("Alfen BV", "NG920")
    assert alfen.finishing == "unplugged" and alfen.meter_value_events is False
    other = registry.rules_for("ABB", "Terra")
    assert other.stop_triggers["Other"] == "EVDeparted"
    assert other.stop_triggers["Local"] == "StopAuthorized"
    st = Station()
    st._add(st.s.call("BootNotification", boot16(vendor="Alfen BV", model="NG920")))
    st.status("Preparing")
    st.start(50)
    st.status("Charging")
    st.meter(50)
    st.status("Finishing")
    assert [e.trigger_reason for e in st.events(registry)][-1] == "EVDeparted"


def test_rules_from_dict_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Rules.from_dict({"preparing_is_plug": True})
    with pytest.raises(ValueError, match="finishing"):
        Rules.from_dict({"finishing": "maybe"})
    with pytest.raises(ValueError, match="auth_hold_ms"):
        Rules.from_dict({"auth_hold_ms": "2m"})
    assert Rules.from_dict({"preparing_means_plugged": True}).preparing_means_plugged is True


def test_a_stale_remote_start_offered_to_every_connector_expires() -> None:
    st = Station()
    st.status("Available", connector=1)
    st.status("Available", connector=2)
    st.csms_call("RemoteStartTransaction", {"idTag": "APP"})  # no connectorId: any connector
    st.status("Preparing", connector=2)
    st.start(60, connector=2, tag="APP")
    st.tick(30 * MIN)
    st.status("Preparing", connector=1)  # someone plugs in much later
    st.start(61, connector=1)
    events = st.events()
    assert [(e.connector_id, e.trigger_reason) for e in events] == [
        (2, "CablePluggedIn"),
        (2, "RemoteStart"),
        (1, "CablePluggedIn"),
        (1, "Authorized"),
    ]
