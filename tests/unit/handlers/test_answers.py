"""Each route table answers what its version's specification asks, from the injected decisions."""

from collections.abc import Mapping
from typing import Any

import pytest

from csms.handlers import BootDecision, CallContext, Decisions, TokenInfo, iso_time, routes
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from tests.unit.gateway.fakes import FixedDecisions
from tests.unit.handlers.requests import minimal_request

V16, V201, V21 = OcppVersion.V16, OcppVersion.V201, OcppVersion.V21
NOW = 1_764_000_000_123


class TokenDecisions:
    """Decisions that know one rich token, as the Redis read model returns it."""

    heartbeat_interval_s = 300

    def __init__(self, info: TokenInfo) -> None:
        self.info = info

    async def boot(self, station: str) -> BootDecision:
        return BootDecision("Accepted", self.heartbeat_interval_s)

    async def next_transaction_id(self) -> int:
        return 1

    async def authorize(self, id_token: str) -> TokenInfo:
        return self.info

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        return None


class RejectingDecisions(FixedDecisions):
    async def boot(self, station: str) -> BootDecision:
        return BootDecision("Rejected", 60)


async def _answer(
    version: OcppVersion,
    action: str,
    payload: dict[str, Any],
    decisions: Decisions | None = None,
) -> dict[str, Any]:
    ctx = CallContext("CP-1", version, payload, NOW, decisions or FixedDecisions())
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


async def test_boot_rejected_is_answered_with_the_retry_interval() -> None:
    answer = await _answer(V201, "BootNotification", {}, RejectingDecisions())
    assert (answer["status"], answer["interval"]) == ("Rejected", 60)


EXPIRY_MS = 1_800_000_000_000
EXPIRY = iso_time(EXPIRY_MS)


async def test_1_6_id_tag_info_carries_expiry_and_parent() -> None:
    decisions = TokenDecisions(TokenInfo("Accepted", expiry_ms=EXPIRY_MS, group="FLEET-7"))
    answer = await _answer(V16, "Authorize", {"idTag": "A"}, decisions)
    assert answer == {
        "idTagInfo": {"status": "Accepted", "expiryDate": EXPIRY, "parentIdTag": "FLEET-7"}
    }


@pytest.mark.parametrize(
    ("neutral", "v16_status"),
    [
        ("NoCredit", "Invalid"),
        ("NotAtThisLocation", "Invalid"),
        ("Expired", "Expired"),
        ("ConcurrentTx", "ConcurrentTx"),
        ("garbage", "Invalid"),
    ],
)
async def test_1_6_maps_statuses_it_cannot_name_to_invalid(neutral: str, v16_status: str) -> None:
    payload = {"connectorId": 1, "idTag": "A", "meterStart": 0, "timestamp": "t"}
    answer = await _answer(V16, "StartTransaction", payload, TokenDecisions(TokenInfo(neutral)))
    assert answer["idTagInfo"] == {"status": v16_status}


async def test_1_6_leaves_out_a_parent_longer_than_20_characters() -> None:
    decisions = TokenDecisions(TokenInfo("Accepted", group="G" * 21))
    answer = await _answer(V16, "Authorize", {"idTag": "A"}, decisions)
    assert answer == {"idTagInfo": {"status": "Accepted"}}


@pytest.mark.parametrize("version", [V201, V21])
async def test_2x_id_token_info_carries_cache_expiry_and_group(version: OcppVersion) -> None:
    decisions = TokenDecisions(TokenInfo("NoCredit", expiry_ms=EXPIRY_MS, group="FLEET-7"))
    payload = {"idToken": {"idToken": "A", "type": "ISO14443"}}
    answer = await _answer(version, "Authorize", payload, decisions)
    assert answer == {
        "idTokenInfo": {
            "status": "NoCredit",
            "cacheExpiryDateTime": EXPIRY,
            "groupIdToken": {"idToken": "FLEET-7", "type": "Central"},
        }
    }


async def test_2x_maps_an_unknown_status_to_invalid() -> None:
    payload = {"idToken": {"idToken": "A", "type": "ISO14443"}}
    answer = await _answer(V201, "Authorize", payload, TokenDecisions(TokenInfo("garbage")))
    assert answer == {"idTokenInfo": {"status": "Invalid"}}


async def test_sign_certificate_is_rejected_without_a_ca() -> None:
    assert await _answer(V16, "SignCertificate", {"csr": "x"}) == {"status": "Rejected"}
    for version in (V201, V21):
        answer = await _answer(version, "SignCertificate", {"csr": "x"})
        assert answer["status"] == "Rejected"
        assert answer["statusInfo"]["reasonCode"] == "NoCertAuthority"


@pytest.mark.parametrize("version", [V201, V21])
async def test_certificate_requests_fail_without_a_ca(version: OcppVersion) -> None:
    ev = await _answer(
        version, "Get15118EVCertificate", minimal_request(version, "Get15118EVCertificate")
    )
    assert (ev["status"], ev["exiResponse"]) == ("Failed", "")
    status = await _answer(
        version, "GetCertificateStatus", minimal_request(version, "GetCertificateStatus")
    )
    assert status["status"] == "Failed"
    assert status["statusInfo"]["reasonCode"] == "NoCertAuthority"


async def test_certificate_chain_status_answers_failed_for_each_certificate() -> None:
    hash_data = {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "a",
        "issuerKeyHash": "b",
        "serialNumber": "c",
    }
    requests = [
        {"certificateHashData": hash_data, "source": "OCSP", "urls": ["http://ocsp"]},
        {"certificateHashData": {**hash_data, "serialNumber": "d"}, "source": "CRL", "urls": ["u"]},
    ]
    answer = await _answer(
        V21, "GetCertificateChainStatus", {"certificateStatusRequests": requests}
    )
    assert [
        (s["certificateHashData"]["serialNumber"], s["source"], s["status"])
        for s in answer["certificateStatus"]
    ] == [
        ("c", "OCSP", "Failed"),
        ("d", "CRL", "Failed"),
    ]


async def test_ev_charging_needs_promise_no_schedule() -> None:
    v201 = await _answer(
        V201, "NotifyEVChargingNeeds", minimal_request(V201, "NotifyEVChargingNeeds")
    )
    v21 = await _answer(V21, "NotifyEVChargingNeeds", minimal_request(V21, "NotifyEVChargingNeeds"))
    assert (v201["status"], v21["status"]) == ("Rejected", "NoChargingProfile")


async def test_vat_number_validation_echoes_the_number_and_evse() -> None:
    answer = await _answer(V21, "VatNumberValidation", {"vatNumber": "NL123", "evseId": 2})
    assert answer == {
        "vatNumber": "NL123",
        "evseId": 2,
        "status": "Rejected",
        "statusInfo": {"reasonCode": "NoVatValidator"},
    }


@pytest.mark.parametrize("version", [V201, V21])
async def test_data_transfer_knows_no_vendor(version: OcppVersion) -> None:
    answer = await _answer(version, "DataTransfer", {"vendorId": "ACME"})
    assert answer == {"status": "UnknownVendorId"}
