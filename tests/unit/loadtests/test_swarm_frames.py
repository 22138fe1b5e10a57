"""The swarm's frames are valid OCPP: every CALL it can send passes the version's schema (the
payloads are loadtests.ocpp_payloads', shared with the Locust users)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from csms.protocol.validation import validate_call, validator
from csms.protocol.versions import OcppVersion
from loadtests import ocpp_payloads as payloads
from loadtests.swarm import frames as f

V16, V201 = OcppVersion.V16, OcppVersion.V201


def _session(proto: str) -> list[tuple[str, dict[str, Any]]]:
    """Every CALL a swarm charger of `proto` sends, built as the swarm builds them."""
    tx = payloads.Tx("TAG-1", meter_wh=1000, transaction_id="42" if proto == "ocpp1.6" else "t-1")
    return [
        ("BootNotification", payloads.boot(proto, "SW000001", vendor="Swarm")),
        ("Heartbeat", {}),
        ("StatusNotification", payloads.status(proto, "Charging")),
        payloads.start(proto, tx),
        payloads.meter(proto, tx),
        payloads.stop(proto, tx),
    ]


CALLS = [
    (OcppVersion(proto), action, payload)
    for proto in ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
    for action, payload in _session(proto)
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
    validate_call(V16, "1", "BootNotification", payloads.boot("ocpp1.6", station))
    validate_call(V201, "1", "BootNotification", payloads.boot("ocpp2.0.1", station))


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
    ts = payloads.now_iso()
    assert len(ts) == 20 and ts.endswith("Z") and ts[10] == "T"
