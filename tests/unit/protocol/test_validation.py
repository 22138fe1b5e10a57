import pytest

from csms.handlers import routes
from csms.protocol.errors import Failure, FrameRejected
from csms.protocol.validation import known_actions, validate_call, validator
from csms.protocol.versions import OcppVersion

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21


def test_every_routed_action_has_a_schema_in_its_version() -> None:
    for version in OcppVersion:
        assert set(routes(version)) <= known_actions(version)
        for action in routes(version):
            assert validator(version, action) is validator(version, action)  # compiled once


def test_known_actions_cover_the_charger_initiated_core() -> None:
    assert {"BootNotification", "StartTransaction", "MeterValues"} <= known_actions(V16)
    assert {"TransactionEvent", "NotifyReport"} <= known_actions(V201)
    assert "TransactionEvent" in known_actions(V21)
    assert "StartTransaction" not in known_actions(V201)


def test_valid_payloads_pass() -> None:
    validate_call(V16, "1", "Heartbeat", {})
    validate_call(
        V16,
        "1",
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "12"}]}
            ],
        },
    )
    validate_call(
        V201,
        "1",
        "BootNotification",
        {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"},
    )


@pytest.mark.parametrize(
    ("version", "action", "payload", "failure"),
    [
        (V16, "MeterValues", {"meterValue": []}, Failure.OCCURRENCE),
        (V16, "MeterValues", {"connectorId": "one", "meterValue": []}, Failure.TYPE),
        (
            V16,
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"},
            Failure.PROPERTY,
        ),
        (V16, "Authorize", {"idTag": "x" * 21}, Failure.PROPERTY),
        (V16, "Heartbeat", {"surprise": 1}, Failure.FORMAT),
        (V201, "BootNotification", {"reason": "PowerUp"}, Failure.OCCURRENCE),
        (V21, "Heartbeat", {"surprise": 1}, Failure.FORMAT),
    ],
)
def test_schema_violations_name_the_kind_of_failure(
    version: OcppVersion, action: str, payload: dict[str, object], failure: Failure
) -> None:
    with pytest.raises(FrameRejected) as info:
        validate_call(version, "u1", action, payload)
    assert info.value.failure is failure
    assert info.value.uid == "u1"
    assert info.value.action == action
    assert not info.value.description.startswith("data.")


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        (V16, "Heartbeat", {"surprise": 1}),
        (
            V201,
            "BootNotification",
            {
                "chargingStation": {"model": "M", "vendorName": "V", "vendorSerial": "x"},
                "reason": "PowerUp",
            },
        ),
        (V21, "Heartbeat", {"surprise": 1}),
    ],
)
def test_lenient_validation_ignores_unknown_properties_and_says_so(
    version: OcppVersion, action: str, payload: dict[str, object]
) -> None:
    assert validate_call(version, "u1", action, payload, lenient=True) == "UnknownProperties"


def test_lenient_validation_still_names_the_real_fault_behind_unknown_properties() -> None:
    payload = {"connectorId": 1, "errorCode": "NoError", "status": "Dancing", "vendor": 1}
    with pytest.raises(FrameRejected) as info:
        validate_call(V16, "u1", "StatusNotification", payload, lenient=True)
    assert info.value.failure is Failure.PROPERTY
    assert validate_call(V16, "u2", "Heartbeat", {}, lenient=True) == ""
