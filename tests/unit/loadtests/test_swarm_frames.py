"""The swarm's frames are valid OCPP: every CALL it can send passes the version's schema."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from loadtests.swarm import frames as f

from csms.protocol.validation import validate_call, validator
from csms.protocol.versions import OcppVersion

V16, V201 = OcppVersion.V16, OcppVersion.V201

CALLS: list[tuple[OcppVersion, str, dict[str, Any]]] = [
    (V16, "BootNotification", f.boot_16("SW000001")),
    (V16, "Heartbeat", {}),
    (V16, "StatusNotification", f.status_16("Charging")),
    (V16, "StartTransaction", f.start_16("TAG-1", 1000)),
    (V16, "MeterValues", f.meter_values_16(42, 1090)),
    (V16, "StopTransaction", f.stop_16(42, "TAG-1", 2000)),
    (V201, "BootNotification", f.boot_201("SW000002")),
    (V201, "Heartbeat", {}),
    (V201, "StatusNotification", f.status_201("Occupied")),
    (V201, "TransactionEvent", f.transaction_event_201("Started", "tx-1", 0, 10.0, "TAG-2")),
    (V201, "TransactionEvent", f.transaction_event_201("Updated", "tx-1", 1, 100.0, "")),
    (V201, "TransactionEvent", f.transaction_event_201("Ended", "tx-1", 2, 200.0, "TAG-2")),
]


@pytest.mark.parametrize(("version", "action", "payload"), CALLS)
def test_call_payloads_pass_the_schema(
    version: OcppVersion, action: str, payload: dict[str, Any]
) -> None:
    frame = orjson.loads(f.call("7", action, payload))
    assert frame[:3] == [2, "7", action]
    validate_call(version, "7", action, frame[3])  # raises FrameRejected when invalid


def test_long_station_ids_fit_serial_number_limits() -> None:
    station = "X" * 40
    validate_call(V16, "1", "BootNotification", f.boot_16(station))
    validate_call(V201, "1", "BootNotification", f.boot_201(station))


@pytest.mark.parametrize(
    ("version", "action"),
    [
        (V16, "RemoteStartTransaction"),
        (V16, "ChangeConfiguration"),
        (V16, "GetConfiguration"),
        (V16, "Reset"),
        (V201, "RequestStartTransaction"),
        (V201, "GetVariables"),
        (V201, "Reset"),
    ],
)
def test_generic_answers_to_csms_calls_pass_the_response_schema(
    version: OcppVersion, action: str
) -> None:
    request = {
        "getVariableData": [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "X"}}]
    }
    frame = orjson.loads(f.generic_result("abc", action, request))
    assert frame[:2] == [3, "abc"]
    validator(version, action, response=True)(frame[2])


def test_timestamp_is_utc_iso8601() -> None:
    ts = f.timestamp()
    assert len(ts) == 20 and ts.endswith("Z") and ts[10] == "T"
