"""The 1.6 inference rule by rule: each 1.6 input and the 2.0.1 trigger it yields, and the
vendor rules (Rules, RulesRegistry) that change them."""

from __future__ import annotations

import pytest

from csms.domain.inference16 import Rules, RulesRegistry
from tests.unit.domain.builders import boot16
from tests.unit.domain.inference16_station import MIN, Station, triggers

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
