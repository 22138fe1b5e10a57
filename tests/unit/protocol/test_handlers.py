"""Each route table answers what its version's specification asks, from the injected decisions."""

from typing import Any

import pytest

from csms.handlers import CallContext, iso_time, routes
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from tests.unit.gateway.fakes import FixedDecisions

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
NOW = 1_764_000_000_123


async def _answer(version: OcppVersion, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    ctx = CallContext("CP-1", version, payload, NOW, FixedDecisions())
    answer = await routes(version)[action](ctx)
    validator(version, action, response=True)(answer)  # every answer obeys the response schema
    return answer


def test_iso_time_is_utc_with_milliseconds() -> None:
    assert iso_time(NOW) == "2025-11-24T16:00:00.123Z"


@pytest.mark.parametrize(
    ("version", "action", "payload", "expected"),
    [
        (V16, "Heartbeat", {}, {"currentTime": "2025-11-24T16:00:00.123Z"}),
        (V16, "Authorize", {"idTag": "BLOCKED"}, {"idTagInfo": {"status": "Blocked"}}),
        (V16, "StopTransaction", {"transactionId": 1, "meterStop": 5, "timestamp": "t"}, {}),
        (
            V16,
            "StopTransaction",
            {"idTag": "A", "transactionId": 1, "meterStop": 5, "timestamp": "t"},
            {"idTagInfo": {"status": "Accepted"}},
        ),
        (V16, "DataTransfer", {"vendorId": "X"}, {"status": "UnknownVendorId"}),
        (
            V201,
            "Authorize",
            {"idToken": {"idToken": "A", "type": "ISO14443"}},
            {"idTokenInfo": {"status": "Accepted"}},
        ),
        (V201, "TransactionEvent", {"eventType": "Updated"}, {}),
        (
            V21,
            "TransactionEvent",
            {"idToken": {"idToken": "BLOCKED", "type": "Central"}},
            {"idTokenInfo": {"status": "Blocked"}},
        ),
        (V201, "NotifyReport", {}, {}),
    ],
)
async def test_answers(
    version: OcppVersion, action: str, payload: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert await _answer(version, action, payload) == expected


@pytest.mark.parametrize("version", list(OcppVersion))
async def test_boot_is_accepted_with_the_heartbeat_interval(version: OcppVersion) -> None:
    answer = await _answer(version, "BootNotification", {})
    assert answer["status"] == "Accepted"
    assert answer["interval"] == 300
    assert answer["currentTime"] == "2025-11-24T16:00:00.123Z"


async def test_start_transaction_allocates_an_id() -> None:
    payload = {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "t"}
    first = await _answer(V16, "StartTransaction", payload)
    assert first == {"transactionId": 101, "idTagInfo": {"status": "Accepted"}}
