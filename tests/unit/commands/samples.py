"""Realistic bodies for every neutral command, the full form (every field a version may take)."""

from __future__ import annotations

from typing import Any

V16_PROFILE: dict[str, Any] = {
    "chargingProfileId": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
    },
}

V2_PROFILE: dict[str, Any] = {
    "id": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 1,
            "startSchedule": "2026-11-26T00:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        }
    ],
}

# Minimal bodies, valid for every version that supports the command.
MINIMAL: dict[str, dict[str, Any]] = {
    "reset": {},
    "change-availability": {"operative": False},
    "remote-start": {"id_token": {"id": "04A2B3C4D5"}, "evse_id": 1, "remote_start_id": 11},
    "remote-stop": {"transaction_id": "4711"},
    "unlock-connector": {"evse_id": 2},
    "get-configuration": {"keys": ["HeartbeatInterval", "MeterValueSampleInterval"]},
    "set-configuration": {"values": [{"key": "HeartbeatInterval", "value": "300"}]},
    "trigger-message": {"message": "status-notification", "evse_id": 1},
    "clear-cache": {},
    "data-transfer": {"vendor_id": "com.example", "message_id": "Ping", "data": "hello"},
    "get-composite-schedule": {"duration": 3600, "charging_rate_unit": "W", "evse_id": 1},
    "set-charging-profile": {"evse_id": 1, "charging_profile": V2_PROFILE},
    "clear-charging-profile": {"purpose": "TxDefaultProfile", "evse_id": 1},
    "reserve-now": {
        "reservation_id": 5,
        "expires_at": "2026-11-26T02:00:00+01:00",
        "id_token": {"id": "04A2B3C4D5"},
        "evse_id": 1,
    },
    "cancel-reservation": {"reservation_id": 5},
    "update-firmware": {
        "location": "https://fw.example.com/v2.bin",
        "retrieve_at": "2026-11-26T03:00:00Z",
        "retries": 3,
        "retry_interval": 60,
        "request_id": 21,
    },
    "get-log": {
        "location": "ftp://logs.example.com/up",
        "oldest": "2026-11-25T00:00:00Z",
        "latest": "2026-11-26T00:00:00Z",
        "request_id": 22,
    },
    "send-local-list": {
        "list_version": 3,
        "update_type": "differential",
        "entries": [
            {
                "id_token": {"id": "AA11"},
                "status": "Accepted",
                "expires_at": "2027-01-01T00:00:00Z",
                "group_id_token": {"id": "FLEET1", "type": "Central"},
            },
            {"id_token": {"id": "BB22"}},
        ],
    },
    "get-local-list-version": {},
    "get-base-report": {"report": "configuration-inventory", "request_id": 23},
    "get-report": {
        "component_variables": ["EVSE", "OCPPCommCtrlr.HeartbeatInterval"],
        "criteria": ["Problem"],
        "request_id": 24,
    },
    "customer-information": {
        "report": True,
        "clear": False,
        "customer_identifier": "cust-42",
        "request_id": 25,
    },
    "set-display-message": {
        "id": 1,
        "content": "Welcome",
        "language": "en",
        "starts_at": "2026-11-26T00:00:00Z",
    },
    "get-display-messages": {"ids": [1, 2], "request_id": 26},
    "clear-display-message": {"id": 1},
    "cost-updated": {"transaction_id": "tx-1", "total_cost": 12.34},
}

# The one command whose body is in the station version's own shape.
V16_OVERRIDES: dict[str, dict[str, Any]] = {
    "set-charging-profile": {"evse_id": 1, "charging_profile": V16_PROFILE},
}
