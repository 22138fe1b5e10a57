"""Every payload the Locust chargers send or answer, against the official OCPP JSON schemas."""

from __future__ import annotations

from typing import Any

import pytest

from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from loadtests import ocpp_payloads as m
from loadtests.locust_ocpp import answers as a
from loadtests.locust_ocpp.options import parse_mix, pick_protocol, station_id
from loadtests.locust_ocpp.plans import ramp_plan, steady_plan, storms_due

ALL = [m.V16, m.V201, m.V21]


def valid(proto: str, action: str, payload: Any, *, response: bool = False) -> None:
    validator(OcppVersion(proto), action, response=response)(payload)


def session_tx(proto: str) -> m.Tx:
    tx = m.Tx(id_tag="TAG-1", meter_wh=1200, remote_start_id=None if proto == m.V16 else 7)
    tx.transaction_id = "42" if proto == m.V16 else "CP-1-1-1"
    return tx


@pytest.mark.parametrize("proto", ALL)
def test_calls_the_charger_sends_match_the_schemas(proto: str) -> None:
    valid(proto, "BootNotification", m.boot(proto, "LOCUST-0-000001"))
    valid(
        proto, "BootNotification", m.boot(proto, "X" * 40, "RemoteReset" if proto != m.V16 else "")
    )
    valid(proto, "Heartbeat", m.heartbeat(proto))
    for state in ("Available", "Preparing", "Charging", "Finishing"):
        valid(proto, "StatusNotification", m.status(proto, state))
    valid(proto, "Authorize", m.authorize(proto, "TAG-1"))
    tx = session_tx(proto)
    sent = [m.start(proto, tx), m.meter(proto, tx)]
    sent += [
        m.stop(proto, tx, reason)
        for reason in ("Local", "Remote", "HardReset", "SoftReset", "Other")
    ]
    sent.append(m.stop(proto, tx, "DeAuthorized"))
    for action, payload in sent:
        valid(proto, action, payload)
    if proto == m.V16:
        assert [a for a, _ in sent] == ["StartTransaction", "MeterValues"] + ["StopTransaction"] * 6
    else:
        assert [p["eventType"] for _, p in sent] == ["Started", "Updated"] + ["Ended"] * 6
        assert [p["seqNo"] for _, p in sent] == list(range(8))  # one sequence per transaction
        assert sent[0][1]["transactionInfo"]["remoteStartId"] == 7


def requests(proto: str) -> dict[str, dict[str, Any]]:
    """A valid CSMS request for every action the chargers answer."""
    if proto == m.V16:
        return {
            "Reset": {"type": "Soft"},
            "RemoteStartTransaction": {"idTag": "TAG-9"},
            "RemoteStopTransaction": {"transactionId": 42},
            "GetConfiguration": {"key": ["HeartbeatInterval", "Nope"]},
            "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "60"},
            "TriggerMessage": {"requestedMessage": "StatusNotification"},
            "ChangeAvailability": {"connectorId": 0, "type": "Inoperative"},
            "UnlockConnector": {"connectorId": 1},
            "DataTransfer": {"vendorId": "x"},
            "ClearCache": {},
        }
    component = {"name": "OCPPCommCtrlr"}
    reqs: dict[str, dict[str, Any]] = {
        "Reset": {"type": "Immediate"},
        "RequestStartTransaction": {
            "idToken": {"idToken": "TAG-9", "type": "ISO14443"},
            "remoteStartId": 3,
        },
        "RequestStopTransaction": {"transactionId": "CP-1-1-1"},
        "GetVariables": {
            "getVariableData": [
                {"component": component, "variable": {"name": "HeartbeatInterval"}},
                {"component": {"name": "X"}, "variable": {"name": "Y"}},
            ]
        },
        "SetVariables": {
            "setVariableData": [
                {
                    "component": component,
                    "variable": {"name": "HeartbeatInterval"},
                    "attributeValue": "60",
                }
            ]
        },
        "TriggerMessage": {"requestedMessage": "Heartbeat"},
        "ChangeAvailability": {"operationalStatus": "Inoperative"},
        "UnlockConnector": {"evseId": 1, "connectorId": 1},
        "DataTransfer": {"vendorId": "x"},
        "ClearCache": {},
        "CostUpdated": {"totalCost": 1.5, "transactionId": "CP-1-1-1"},
    }
    if proto == m.V21:
        reqs["SetDefaultTariff"] = {
            "evseId": 0,
            "tariff": {"tariffId": "T1", "currency": "EUR"},
        }
    return reqs


@pytest.mark.parametrize("proto", ALL)
def test_answers_to_csms_calls_match_the_response_schemas(proto: str) -> None:
    for action, payload in requests(proto).items():
        valid(proto, action, payload)  # the request itself is a real one
        answer = a.answer(proto, action, payload)
        assert not isinstance(answer, a.CallErrorAnswer), action
        valid(proto, action, answer, response=True)


def test_answers_carry_what_was_asked() -> None:
    config = a.answer(m.V16, "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert config == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["Nope"],
    }
    got = a.answer(m.V201, "GetVariables", requests(m.V201)["GetVariables"])
    assert isinstance(got, dict)
    assert [r["attributeStatus"] for r in got["getVariableResult"]] == [
        "Accepted",
        "UnknownVariable",
    ]
    trigger = {"requestedMessage": "MeterValues"}
    assert a.answer(m.V201, "TriggerMessage", trigger) == {"status": "NotImplemented"}
    assert a.answer(m.V16, "TriggerMessage", trigger) == {"status": "Accepted"}


@pytest.mark.parametrize(
    ("proto", "action"),
    [
        (m.V16, "UpdateFirmware"),
        (m.V16, "RequestStartTransaction"),  # a 2.x action on a 1.6 charger
        (m.V201, "SetDefaultTariff"),  # 2.1 only
        (m.V21, "GetBaseReport"),
    ],
)
def test_unknown_calls_are_not_implemented(proto: str, action: str) -> None:
    answer = a.answer(proto, action, {})
    assert isinstance(answer, a.CallErrorAnswer)
    assert answer.code == "NotImplemented"


def test_authorization_status_is_read_per_version() -> None:
    assert m.id_tag_status(m.V16, {"idTagInfo": {"status": "Accepted"}}) == "Accepted"
    assert m.id_tag_status(m.V201, {"idTokenInfo": {"status": "Blocked"}}) == "Blocked"
    assert m.id_tag_status(m.V21, {}) == "Invalid"


def test_protocol_mix_is_parsed_and_followed() -> None:
    mix = parse_mix("ocpp1.6=50,ocpp2.0.1=40,ocpp2.1=10")
    assert mix == [(m.V16, 0.5), (m.V201, 0.4), (m.V21, 0.1)]
    picked = [pick_protocol(mix, i) for i in range(100)]
    assert abs(picked.count(m.V16) - 50) <= 2
    assert abs(picked.count(m.V201) - 40) <= 2
    assert abs(picked.count(m.V21) - 10) <= 2
    ten = [pick_protocol(parse_mix("ocpp1.6=1,ocpp2.0.1=1"), i) for i in range(10)]
    assert 4 <= ten.count(m.V16) <= 6  # even a small run gets both
    assert parse_mix("ocpp2.1") == [(m.V21, 1.0)]
    for bad in ("ocpp3=1", "ocpp1.6=0", ""):
        with pytest.raises(ValueError):
            parse_mix(bad)
    assert station_id("LOCUST-", 2, 17) == "LOCUST-2-000017"


def test_shape_plans() -> None:
    assert ramp_plan(0.0, 100, 50.0, 10.0) == (1, 2.0)
    assert ramp_plan(25.0, 100, 50.0, 10.0) == (50, 2.0)
    assert ramp_plan(55.0, 100, 50.0, 10.0) == (100, 100.0)
    assert ramp_plan(61.0, 100, 50.0, 10.0) is None
    assert steady_plan(5.0, 100, 10.0, 30.0) == (100, 10.0)
    assert steady_plan(41.0, 100, 10.0, 30.0) is None  # 10 s of spawning + 30 s held
    assert not storms_due(59.0, 60.0, 0.0, 0)
    assert storms_due(60.0, 60.0, 0.0, 0)
    assert not storms_due(500.0, 60.0, 0.0, 1)  # once
    assert storms_due(90.0, 60.0, 30.0, 1) and not storms_due(89.0, 60.0, 30.0, 1)
