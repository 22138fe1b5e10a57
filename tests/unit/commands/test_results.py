"""Station answers -> one neutral answer, with realistic (schema-valid) CALLRESULT payloads."""

from __future__ import annotations

from typing import Any

import pytest

from csms.commands import neutral_result, translate
from csms.protocol.versions import OcppVersion

from .helpers import body_for, check_response

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21


def round_trip(
    command: str, body: dict[str, Any], version: OcppVersion, *answers: dict[str, Any]
) -> dict[str, Any]:
    calls = translate(command, body, version)
    responses = [check_response(version, c.action, a) for c, a in zip(calls, answers, strict=True)]
    result = neutral_result(command, version, calls, responses)
    # The raw answers are always kept, in call order.
    assert result["responses"] == [
        {"action": c.action, "payload": a} for c, a in zip(calls, answers, strict=True)
    ]
    return result


def test_plain_status_on_every_version() -> None:
    assert round_trip("reset", {}, V16, {"status": "Rejected"})["status"] == "Rejected"
    answer = {
        "status": "Scheduled",
        "statusInfo": {"reasonCode": "TxInProgress", "additionalInfo": "evse 1"},
    }
    result = round_trip("reset", {}, V201, answer)
    assert (result["status"], result["reason"], result["info"]) == (
        "Scheduled",
        "TxInProgress",
        "evse 1",
    )


def test_remote_start_2x_reports_ids() -> None:
    body = body_for("remote-start", V21)
    result = round_trip("remote-start", body, V21, {"status": "Accepted", "transactionId": "tx-9"})
    assert result["transaction_id"] == "tx-9"
    assert result["remote_start_id"] == body["remote_start_id"]
    assert "transaction_id" not in round_trip("remote-start", body, V16, {"status": "Accepted"})


def test_get_configuration_is_the_same_shape_on_16_and_2x() -> None:
    body = {"keys": ["HeartbeatInterval", "NoSuchKey.AtAll"]}
    v16 = round_trip(
        "get-configuration",
        body,
        V16,
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["NoSuchKey.AtAll"],
        },
    )
    v2 = round_trip(
        "get-configuration",
        body,
        V201,
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "300",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attributeStatus": "UnknownComponent",
                    "component": {"name": "NoSuchKey"},
                    "variable": {"name": "AtAll"},
                },
            ]
        },
    )
    for result in (v16, v2):
        assert result["status"] == "Accepted"
        hb = result["keys"][0]
        assert (hb["ocpp16_key"], hb["ocpp2_key"], hb["value"]) == (
            "HeartbeatInterval",
            "OCPPCommCtrlr.HeartbeatInterval",
            "300",
        )
        assert result["unknown_keys"] == ["NoSuchKey.AtAll"]
    assert v16["keys"][0]["readonly"] is False
    assert v16["keys"][1]["status"] == "UnknownKey"
    assert v2["keys"][1]["status"] == "UnknownComponent"


def test_get_configuration_all_keys_on_16() -> None:
    answer = {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            {"key": "VendorNoValue", "readonly": True},
        ]
    }
    result = round_trip("get-configuration", {}, V16, answer)
    assert [k["key"] for k in result["keys"]] == [
        "HeartbeatInterval",
        "NumberOfConnectors",
        "VendorNoValue",
    ]
    assert result["keys"][1]["ocpp2_key"] is None
    assert result["keys"][2]["value"] is None
    assert result["unknown_keys"] == []


def test_get_configuration_2x_evse_variable() -> None:
    body = {
        "keys": [
            {"component": "EVSE", "variable": "Power", "evse_id": 1, "attribute_type": "MaxSet"}
        ]
    }
    answer = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeType": "MaxSet",
                "attributeValue": "22000",
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
            }
        ]
    }
    entry = round_trip("get-configuration", body, V21, answer)["keys"][0]
    assert entry["key"] == "EVSE.Power"
    assert (entry["evse_id"], entry["attribute_type"], entry["ocpp16_key"]) == (1, "MaxSet", None)


@pytest.mark.parametrize(
    ("statuses", "overall"),
    [
        (["Accepted", "Accepted", "Accepted"], "Accepted"),
        (["Accepted", "RebootRequired", "Accepted"], "RebootRequired"),
        (["Accepted", "RebootRequired", "NotSupported"], "Rejected"),
    ],
)
def test_set_configuration_16_several_keys(statuses: list[str], overall: str) -> None:
    body = {
        "values": [
            {"key": "HeartbeatInterval", "value": "300"},
            {"key": "WebSocketPingInterval", "value": "60"},
            {"key": "VendorKey", "value": "1"},
        ]
    }
    answers = [{"status": s} for s in statuses]
    result = round_trip("set-configuration", body, V16, *answers)
    assert result["status"] == overall
    assert [(k["key"], k["status"]) for k in result["keys"]] == list(
        zip(["HeartbeatInterval", "WebSocketPingInterval", "VendorKey"], statuses, strict=True)
    )
    assert "value" not in result["keys"][0]


def test_set_configuration_2x() -> None:
    body = {
        "values": [
            {"key": "HeartbeatInterval", "value": "300"},
            {"key": "TxCtrlr.Foo", "value": "1"},
        ]
    }
    answer = {
        "setVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            },
            {
                "attributeStatus": "UnknownVariable",
                "attributeStatusInfo": {"reasonCode": "NoSuchVar"},
                "component": {"name": "TxCtrlr"},
                "variable": {"name": "Foo"},
            },
        ]
    }
    result = round_trip("set-configuration", body, V201, answer)
    assert result["status"] == "Rejected"
    assert result["keys"][0]["ocpp16_key"] == "HeartbeatInterval"
    assert (result["keys"][1]["status"], result["keys"][1]["reason"]) == (
        "UnknownVariable",
        "NoSuchVar",
    )


def test_data_transfer_data() -> None:
    body = body_for("data-transfer", V16)
    result = round_trip("data-transfer", body, V16, {"status": "Accepted", "data": "pong"})
    assert (result["status"], result["data"]) == ("Accepted", "pong")
    result = round_trip("data-transfer", body, V21, {"status": "UnknownVendorId"})
    assert result == {"status": "UnknownVendorId", "responses": result["responses"]}


def test_composite_schedule_same_header_on_16_and_2x() -> None:
    v16 = round_trip(
        "get-composite-schedule",
        body_for("get-composite-schedule", V16),
        V16,
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-11-26T00:00:00Z",
            "chargingSchedule": {
                "duration": 3600,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
            },
        },
    )
    v2 = round_trip(
        "get-composite-schedule",
        body_for("get-composite-schedule", V201),
        V201,
        {
            "status": "Accepted",
            "schedule": {
                "evseId": 1,
                "duration": 3600,
                "scheduleStart": "2026-11-26T00:00:00Z",
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
            },
        },
    )
    assert v16["schedule"] == v2["schedule"]
    assert v16["schedule"]["evse_id"] == 1
    rejected = round_trip(
        "get-composite-schedule",
        body_for("get-composite-schedule", V21),
        V21,
        {"status": "Rejected"},
    )
    assert "schedule" not in rejected


def test_get_log_results() -> None:
    body = body_for("get-log", V16)
    assert round_trip("get-log", body, V16, {"fileName": "diag.zip"})["filename"] == "diag.zip"
    assert round_trip("get-log", body, V16, {})["status"] == "Rejected"
    result = round_trip("get-log", body, V201, {"status": "Accepted", "filename": "log.tgz"})
    assert (result["status"], result["filename"], result["request_id"]) == (
        "Accepted",
        "log.tgz",
        22,
    )


def test_update_firmware_results() -> None:
    body = body_for("update-firmware", V16)
    assert round_trip("update-firmware", body, V16, {})["status"] == "Accepted"  # empty .conf
    result = round_trip("update-firmware", body, V21, {"status": "InvalidCertificate"})
    assert (result["status"], result["request_id"]) == ("InvalidCertificate", 21)


def test_local_list_version_on_every_version() -> None:
    assert round_trip("get-local-list-version", {}, V16, {"listVersion": 3})["list_version"] == 3
    assert round_trip("get-local-list-version", {}, V201, {"versionNumber": 4})["list_version"] == 4


def test_base_report_16_answers_now_2x_later() -> None:
    answer = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}
    result = round_trip("get-base-report", {}, V16, answer)
    assert result["keys"][0]["value"] == "60"
    result = round_trip("get-base-report", {"request_id": 8}, V201, {"status": "EmptyResultSet"})
    assert (result["status"], result["request_id"]) == ("EmptyResultSet", 8)


def test_every_command_has_a_result_for_a_plain_accepted_answer() -> None:
    # Commands whose answers carry only a status produce {"status": ...} on every version.
    plain = [
        "change-availability",
        "remote-stop",
        "clear-cache",
        "set-charging-profile",
        "clear-charging-profile",
        "reserve-now",
        "cancel-reservation",
        "send-local-list",
    ]
    for command in plain:
        for version in OcppVersion:
            result = round_trip(
                command, body_for(command, version), version, {"status": "Accepted"}
            )
            assert result["status"] == "Accepted"
    for command in ("set-display-message", "clear-display-message", "cost-updated"):
        answer = {} if command == "cost-updated" else {"status": "Accepted"}
        assert round_trip(command, body_for(command, V21), V21, answer)["status"] == "Accepted"


def test_unlock_statuses_pass_through() -> None:
    body = {"evse_id": 1}
    assert (
        round_trip("unlock-connector", body, V16, {"status": "NotSupported"})["status"]
        == "NotSupported"
    )
    assert (
        round_trip("unlock-connector", body, V201, {"status": "UnknownConnector"})["status"]
        == "UnknownConnector"
    )


def test_mismatched_responses_are_a_programming_error() -> None:
    calls = translate(
        "set-configuration",
        {"values": [{"key": "A", "value": "1"}, {"key": "B", "value": "2"}]},
        V16,
    )
    with pytest.raises(ValueError, match="2 calls but 1 responses"):
        neutral_result("set-configuration", V16, calls, [{"status": "Accepted"}])


def test_set_configuration_16_with_a_call_that_got_no_result() -> None:
    body = {"values": [{"key": "HeartbeatInterval", "value": "1"}, {"key": "B", "value": "2"}]}
    calls = translate("set-configuration", body, V16)
    result = neutral_result("set-configuration", V16, calls, [{"status": "Accepted"}, None])
    assert result["status"] == "Rejected"
    assert [k["status"] for k in result["keys"]] == ["Accepted", "NoResult"]
    assert result["responses"][1] == {"action": "ChangeConfiguration", "payload": None}
    with pytest.raises(ValueError, match="no CALLRESULT"):
        neutral_result("reset", V16, translate("reset", {}, V16), [None])
