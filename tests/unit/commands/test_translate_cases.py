"""Per-command translation rules and the edge cases of each."""

from __future__ import annotations

from typing import Any

import pytest

from csms.commands import InvalidCommand, OcppCall, UnsupportedCommand, translate
from csms.commands.models import TriggerMessageCommand
from csms.commands.translators import TRIGGERS
from csms.protocol.versions import OcppVersion

from .samples import V2_PROFILE

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
V2X = [V201, V21]


def one(command: str, body: dict[str, Any], version: OcppVersion) -> OcppCall:
    calls = translate(command, body, version)
    assert len(calls) == 1
    return calls[0]


# --- reset -----------------------------------------------------------------------------------


def test_reset_types_per_version() -> None:
    assert one("reset", {"type": "immediate"}, V16).payload == {"type": "Hard"}
    assert one("reset", {"type": "on-idle"}, V16).payload == {"type": "Soft"}
    assert one("reset", {"type": "immediate", "evse_id": 2}, V201).payload == {
        "type": "Immediate",
        "evseId": 2,
    }
    assert one("reset", {"type": "immediate-and-resume"}, V21).payload == {
        "type": "ImmediateAndResume"
    }


def test_reset_refusals_name_the_version() -> None:
    with pytest.raises(UnsupportedCommand, match=r"OCPP 1\.6.*whole station"):
        translate("reset", {"evse_id": 1}, V16)
    with pytest.raises(UnsupportedCommand, match=r"OCPP 2\.0\.1.*2\.1"):
        translate("reset", {"type": "immediate-and-resume"}, V201)
    assert one("reset", {"evse_id": 0}, V16).payload == {"type": "Soft"}  # 0 = the station


# --- change-availability / unlock ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "v16", "v2"),
    [
        ({}, {"connectorId": 0}, {}),
        ({"evse_id": 0}, {"connectorId": 0}, {}),
        ({"evse_id": 2}, {"connectorId": 2}, {"evse": {"id": 2}}),
        (
            {"evse_id": 2, "connector_id": 1},
            {"connectorId": 2},
            {"evse": {"id": 2, "connectorId": 1}},
        ),
    ],
)
def test_change_availability_targets(
    body: dict[str, Any], v16: dict[str, Any], v2: dict[str, Any]
) -> None:
    body = {"operative": True, **body}
    assert one("change-availability", body, V16).payload == {**v16, "type": "Operative"}
    for version in V2X:
        assert one("change-availability", body, version).payload == {
            **v2,
            "operationalStatus": "Operative",
        }


def test_connector_without_evse() -> None:
    # 1.6 connector numbers are station-wide; 2.x connectors live inside an EVSE.
    body = {"operative": False, "connector_id": 3}
    assert one("change-availability", body, V16).payload == {
        "connectorId": 3,
        "type": "Inoperative",
    }
    with pytest.raises(InvalidCommand, match="needs its evse_id"):
        translate("change-availability", body, V201)


def test_second_connector_of_an_evse_has_no_16_name() -> None:
    with pytest.raises(InvalidCommand, match=r"no 1\.6 connectorId"):
        translate("change-availability", {"operative": True, "evse_id": 1, "connector_id": 2}, V16)


def test_unlock_connector() -> None:
    assert one("unlock-connector", {"connector_id": 2}, V16).payload == {"connectorId": 2}
    assert one("unlock-connector", {"evse_id": 1, "connector_id": 2}, V21).payload == {
        "evseId": 1,
        "connectorId": 2,
    }
    for version in OcppVersion:
        with pytest.raises(InvalidCommand):
            translate("unlock-connector", {}, version)


def test_negative_ids_are_refused_by_the_model() -> None:
    with pytest.raises(InvalidCommand, match="evse_id"):
        translate("change-availability", {"operative": True, "evse_id": -1}, V16)
    with pytest.raises(InvalidCommand, match="evse_id"):
        translate("remote-start", {"id_token": {"id": "A"}, "evse_id": 0}, V201)


# --- remote start / stop ---------------------------------------------------------------------


def test_remote_start_16_has_no_token_type() -> None:
    body = {"id_token": {"id": "TAG1", "type": "Central"}, "evse_id": 2, "remote_start_id": 1}
    assert one("remote-start", body, V16).payload == {"idTag": "TAG1", "connectorId": 2}


def test_remote_start_generates_the_remote_start_id() -> None:
    payload = one("remote-start", {"id_token": {"id": "TAG1"}}, V201).payload
    assert isinstance(payload["remoteStartId"], int)
    assert 0 < payload["remoteStartId"] < 2**31
    assert "evseId" not in payload


def test_remote_start_token_length_is_checked_per_version() -> None:
    body = {"id_token": {"id": "X" * 21}}
    with pytest.raises(InvalidCommand, match="idTag"):
        translate("remote-start", body, V16)  # 1.6 idTag <= 20
    one("remote-start", body, V201)
    with pytest.raises(InvalidCommand, match="idToken"):
        translate("remote-start", {"id_token": {"id": "X" * 37}}, V201)  # 2.0.1 <= 36
    one("remote-start", {"id_token": {"id": "X" * 37}}, V21)  # 2.1 <= 255


def test_remote_start_group_token_and_profile_shapes() -> None:
    body = {"id_token": {"id": "A"}, "group_id_token": {"id": "G"}}
    with pytest.raises(UnsupportedCommand, match=r"OCPP 1\.6"):
        translate("remote-start", body, V16)
    payload = one("remote-start", {**body, "charging_profile": V2_PROFILE}, V201).payload
    assert payload["groupIdToken"] == {"idToken": "G", "type": "ISO14443"}
    assert payload["chargingProfile"] == V2_PROFILE
    with pytest.raises(InvalidCommand, match="chargingProfile"):
        translate("remote-start", {"id_token": {"id": "A"}, "charging_profile": V2_PROFILE}, V16)


@pytest.mark.parametrize("bad", ["abc", "1.5", "12a", "2147483648", "0x10"])
def test_remote_stop_16_needs_an_integer(bad: str) -> None:
    with pytest.raises(InvalidCommand, match="32-bit integer") as err:
        translate("remote-stop", {"transaction_id": bad}, V16)
    assert err.value.version is V16
    for version in V2X:
        assert one("remote-stop", {"transaction_id": bad}, version).payload == {
            "transactionId": bad
        }


def test_remote_stop_16_integer() -> None:
    assert one("remote-stop", {"transaction_id": " 42 "}, V16).payload == {"transactionId": 42}
    with pytest.raises(InvalidCommand, match="transaction_id"):
        translate("remote-stop", {"transaction_id": ""}, V16)


# --- configuration ---------------------------------------------------------------------------


def test_get_configuration_empty_keys() -> None:
    assert one("get-configuration", {}, V16).payload == {}
    for version in V2X:
        with pytest.raises(UnsupportedCommand, match="get-base-report"):
            translate("get-configuration", {"keys": []}, version)


def test_get_configuration_key_forms() -> None:
    body: dict[str, list[Any]] = {
        "keys": [
            "HeartbeatInterval",
            "OCPPCommCtrlr.WebSocketPingInterval",
            "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
            "VendorKey",
        ]
    }
    assert one("get-configuration", body, V16).payload == {
        "key": [
            "HeartbeatInterval",
            "WebSocketPingInterval",
            "TransactionMessageAttempts",
            "VendorKey",
        ]
    }
    with pytest.raises(InvalidCommand, match=r"'VendorKey'.*Component\.Variable"):
        translate("get-configuration", body, V201)
    selector = {"component": "EVSE", "variable": "Power", "evse_id": 1, "attribute_type": "MaxSet"}
    body["keys"] = [*body["keys"][:3], selector, "Connector[2].AvailabilityState"]
    data = one("get-configuration", body, V201).payload["getVariableData"]
    assert data[0] == {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
    }
    assert data[2]["variable"] == {"name": "MessageAttempts", "instance": "TransactionEvent"}
    assert data[3] == {
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "Power"},
        "attributeType": "MaxSet",
    }
    assert data[4]["component"] == {"name": "Connector", "instance": "2"}


def test_structured_key_without_16_name() -> None:
    body = {"keys": [{"component": "EVSE", "variable": "Power"}]}
    with pytest.raises(InvalidCommand, match=r"EVSE\.Power has no 1\.6 key"):
        translate("get-configuration", body, V16)
    body = {"keys": [{"component": "ocppcommctrlr", "variable": "heartbeatinterval"}]}
    assert one("get-configuration", body, V16).payload == {"key": ["HeartbeatInterval"]}


def test_set_configuration_several_keys_on_16_is_one_call_per_key() -> None:
    body = {
        "values": [
            {"key": "HeartbeatInterval", "value": "300"},
            {"key": "SampledDataCtrlr.TxUpdatedInterval", "value": "60"},
            {"key": "VendorSpecific", "value": "on"},
        ]
    }
    calls = translate("set-configuration", body, V16)
    assert calls == [
        OcppCall("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"}),
        OcppCall("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"}),
        OcppCall("ChangeConfiguration", {"key": "VendorSpecific", "value": "on"}),
    ]
    body["values"].pop()
    data = one("set-configuration", body, V21).payload["setVariableData"]
    assert [d["attributeValue"] for d in data] == ["300", "60"]
    assert data[1]["component"] == {"name": "SampledDataCtrlr"}


def test_set_configuration_edge_cases() -> None:
    with pytest.raises(InvalidCommand, match="values"):
        translate("set-configuration", {"values": []}, V16)
    dup = {"values": [{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]}
    with pytest.raises(InvalidCommand, match="once"):
        translate("set-configuration", dup, V16)
    long = {"values": [{"key": "HeartbeatInterval", "value": "x" * 501}]}
    with pytest.raises(InvalidCommand, match="value"):
        translate("set-configuration", long, V16)  # 1.6 values <= 500
    one("set-configuration", long, V201)  # 2.0.1 allows 1000


# --- trigger message -------------------------------------------------------------------------


def test_trigger_literal_matches_the_table() -> None:
    names = TriggerMessageCommand.model_json_schema()["properties"]["message"]["enum"]
    assert set(names) == set(TRIGGERS)


@pytest.mark.parametrize("message", sorted(TRIGGERS))
def test_trigger_every_message_on_every_version(message: str) -> None:
    extra = {"custom_trigger": "Vendor"} if message == "custom-trigger" else {}
    for version, target in zip(OcppVersion, TRIGGERS[message], strict=True):
        body = {"message": message, **extra}
        if target is None:
            with pytest.raises(UnsupportedCommand) as err:
                translate("trigger-message", body, version)
            assert err.value.version is version
            continue
        call = one("trigger-message", body, version)
        expected = target[1] if isinstance(target, tuple) else target
        assert call.payload["requestedMessage"] == expected


def test_trigger_16_variants() -> None:
    call = one("trigger-message", {"message": "sign-charging-station-certificate"}, V16)
    assert call == OcppCall(
        "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
    )
    call = one("trigger-message", {"message": "meter-values", "connector_id": 2}, V16)
    assert call.payload == {"requestedMessage": "MeterValues", "connectorId": 2}
    with pytest.raises(InvalidCommand, match="custom_trigger"):
        translate("trigger-message", {"message": "heartbeat", "custom_trigger": "x"}, V21)


# --- the rest --------------------------------------------------------------------------------


def test_data_transfer_16_sends_json_text() -> None:
    body = {"vendor_id": "acme", "data": {"a": [1, 2]}}
    assert one("data-transfer", body, V16).payload == {"vendorId": "acme", "data": '{"a":[1,2]}'}
    assert one("data-transfer", body, V201).payload["data"] == {"a": [1, 2]}


def test_clear_charging_profile_purpose_names() -> None:
    body = {"purpose": "ChargingStationMaxProfile", "stack_level": 0}
    assert one("clear-charging-profile", body, V16).payload == {
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "stackLevel": 0,
    }
    body = {"purpose": "ChargePointMaxProfile", "profile_id": 3}
    assert one("clear-charging-profile", body, V201).payload == {
        "chargingProfileId": 3,
        "chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"},
    }
    with pytest.raises(InvalidCommand, match="chargingProfilePurpose"):
        translate("clear-charging-profile", {"purpose": "PriorityCharging"}, V201)
    one("clear-charging-profile", {"purpose": "PriorityCharging"}, V21)


def test_set_charging_profile_needs_the_versions_shape() -> None:
    with pytest.raises(InvalidCommand, match="csChargingProfiles"):
        translate("set-charging-profile", {"evse_id": 0, "charging_profile": V2_PROFILE}, V16)


def test_reserve_now() -> None:
    body = {
        "reservation_id": 9,
        "expires_at": "2026-11-26T10:00:00Z",
        "id_token": {"id": "A"},
        "group_id_token": {"id": "P"},
    }
    assert one("reserve-now", body, V16).payload == {
        "connectorId": 0,
        "expiryDate": "2026-11-26T10:00:00.000Z",
        "idTag": "A",
        "parentIdTag": "P",
        "reservationId": 9,
    }
    with pytest.raises(UnsupportedCommand, match="connector type"):
        translate("reserve-now", {**body, "connector_type": "cType2"}, V16)
    assert (
        one("reserve-now", {**body, "connector_type": "cType2"}, V201).payload["connectorType"]
        == "cType2"
    )
    with pytest.raises(InvalidCommand, match="timezone"):
        translate("reserve-now", {**body, "expires_at": "2026-11-26T10:00:00"}, V16)


def test_update_firmware_signed_and_install_time() -> None:
    body = {
        "location": "https://fw.example.com/x.bin",
        "retrieve_at": "2026-11-26T03:00:00Z",
        "install_at": "2026-11-26T04:00:00Z",
        "request_id": 5,
    }
    with pytest.raises(UnsupportedCommand, match="signed"):
        translate("update-firmware", body, V16)
    signed = {**body, "signature": "c2ln", "signing_certificate": "-----BEGIN CERTIFICATE-----"}
    call = one("update-firmware", signed, V16)
    assert call.action == "SignedUpdateFirmware"
    assert call.payload["firmware"]["installDateTime"] == "2026-11-26T04:00:00.000Z"
    assert one("update-firmware", body, V201).payload["requestId"] == 5


def test_get_log_types() -> None:
    body = {"location": "https://logs.example.com/", "log_type": "security", "request_id": 3}
    assert one("get-log", body, V16).action == "GetLog"  # Security Whitepaper
    assert one("get-log", body, V201).payload["logType"] == "SecurityLog"
    body["log_type"] = "data-collector"
    for version in (V16, V201):
        with pytest.raises(UnsupportedCommand, match=r"2\.1"):
            translate("get-log", body, version)
    assert one("get-log", body, V21).payload["logType"] == "DataCollectorLog"


def test_send_local_list() -> None:
    body = {"list_version": 4, "update_type": "full"}
    assert one("send-local-list", body, V16).payload == {
        "listVersion": 4,
        "updateType": "Full",
        "localAuthorizationList": [],
    }
    assert one("send-local-list", body, V201).payload == {"versionNumber": 4, "updateType": "Full"}
    body["entries"] = [{"id_token": {"id": "A"}, "status": "NoCredit"}]
    with pytest.raises(InvalidCommand, match="status"):
        translate("send-local-list", body, V16)  # a 2.x-only status
    entry = one("send-local-list", body, V201).payload["localAuthorizationList"][0]
    assert entry == {
        "idToken": {"idToken": "A", "type": "ISO14443"},
        "idTokenInfo": {"status": "NoCredit"},
    }
    with pytest.raises(InvalidCommand, match="need a status"):
        translate(
            "send-local-list",
            {**body, "entries": [{"id_token": {"id": "A"}, "expires_at": "2027-01-01T00:00:00Z"}]},
            V16,
        )


def test_base_report_and_report() -> None:
    assert one("get-base-report", {"report": "full-inventory"}, V16) == OcppCall(
        "GetConfiguration", {}
    )
    with pytest.raises(UnsupportedCommand, match="summary"):
        translate("get-base-report", {"report": "summary-inventory"}, V16)
    payload = one("get-report", {"request_id": 1}, V201).payload
    assert payload == {"requestId": 1}


def test_customer_information_needs_one_customer() -> None:
    with pytest.raises(InvalidCommand, match="one of"):
        translate("customer-information", {"report": True, "clear": True}, V201)
    body = {"report": False, "clear": True, "id_token": {"id": "A"}, "customer_identifier": "c"}
    with pytest.raises(InvalidCommand, match="one of"):
        translate("customer-information", body, V201)


def test_display_message_21_features() -> None:
    body = {"id": 1, "content": "https://pay.example.com", "format": "QRCODE"}
    with pytest.raises(InvalidCommand, match="format"):
        translate("set-display-message", body, V201)
    assert one("set-display-message", body, V21).payload["message"]["message"]["format"] == "QRCODE"


def test_cost_updated() -> None:
    assert one("cost-updated", {"transaction_id": "t", "total_cost": 1.5}, V21).payload == {
        "totalCost": 1.5,
        "transactionId": "t",
    }
