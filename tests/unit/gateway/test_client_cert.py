"""Security profile 3 behind a TLS-terminating proxy: reading the subject DN the proxy forwards,
the decision on its verify/DN headers, the settings, and the front door without a registry."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus

from csms.security.client_cert import (
    CLIENT_CERT_MODES,
    ClientCertMode,
    InvalidDN,
    common_names,
    parse_dn,
)
from csms.settings import Settings
from services.gateway.handshake import (
    CERT_REFUSED,
    CertDecision,
    FrontDoor,
    check_client_certificate,
)
from services.gateway.server import context_from_settings
from tests.unit.gateway.fakes import FixedDecisions, RecordingPublisher
from tests.unit.gateway.helpers import make_context, running, ws_connect

PORT = 19796
VERIFY = "ssl-client-verify"
DN = "ssl-client-subject-dn"


@pytest.mark.parametrize(
    ("dn", "expected"),
    [
        ("CN=CP-001,O=Example CPO", [("CN", "CP-001"), ("O", "Example CPO")]),
        ("/C=DE/O=Example CPO/CN=CP-001", [("C", "DE"), ("O", "Example CPO"), ("CN", "CP-001")]),
        (r"CN=CP-001,O=Example\, Inc.", [("CN", "CP-001"), ("O", "Example, Inc.")]),
        (r"CN=CP\,001,O=A", [("CN", "CP,001"), ("O", "A")]),
        ('CN=CP-001,O="Example, Inc."', [("CN", "CP-001"), ("O", "Example, Inc.")]),
        (r"CN=\43P-001", [("CN", "CP-001")]),  # RFC 4514 hex escape
        (r"CN=Ladestation M\C3\BCnchen", [("CN", "Ladestation München")]),
        ("cn = CP-001 ; o = A", [("cn", "CP-001"), ("o", "A")]),
        ("CN=CP-001+serialNumber=42,O=A", [("CN", "CP-001"), ("serialNumber", "42"), ("O", "A")]),
        (r"CN=a\+b", [("CN", "a+b")]),
        (r"CN=CP-001\ ", [("CN", "CP-001 ")]),  # an escaped trailing space is kept
        # Separators a producer left unescaped are glued back onto the value before them.
        ("O=Example, Inc.,CN=CP-001", [("O", "Example, Inc."), ("CN", "CP-001")]),
        ("/O=Shop A/B/CN=CP-001", [("O", "Shop A/B"), ("CN", "CP-001")]),
        ('/O=Joe "s/CN=CP-001', [("O", 'Joe "s'), ("CN", "CP-001")]),  # no quoting in slash form
        ("", []),
    ],
)
def test_parse_dn_reads_rfc2253_and_slash_dns(dn: str, expected: list[tuple[str, str]]) -> None:
    assert parse_dn(dn) == expected


@pytest.mark.parametrize("dn", ["CN=CP-001\\", 'CN="CP-001', "CP-001,CN=x"])
def test_parse_dn_refuses_unreadable_dns(dn: str) -> None:
    with pytest.raises(InvalidDN):
        parse_dn(dn)


def test_common_names_knows_every_spelling_of_cn() -> None:
    assert common_names("commonName=a,O=b") == ["a"]
    assert common_names("2.5.4.3=a") == ["a"]
    assert common_names("OID.2.5.4.3=a") == ["a"]
    assert common_names("O=b,OU=c") == []
    assert common_names("CN=a,CN=b") == ["a", "b"]


def _decide(mode: ClientCertMode, *pairs: tuple[str, str], station: str = "CP-001") -> CertDecision:
    return check_client_certificate(station, Headers(list(pairs)), mode, VERIFY, DN)


@pytest.mark.parametrize("mode", ["optional", "required"])
def test_a_verified_certificate_naming_the_station_authenticates(mode: ClientCertMode) -> None:
    assert _decide(mode, (VERIFY, "SUCCESS"), (DN, "CN=CP-001,O=Example CPO")) == "authenticated"
    assert _decide(mode, (VERIFY, "SUCCESS"), (DN, "/O=Example CPO/CN=CP-001")) == "authenticated"


@pytest.mark.parametrize(
    "dn",
    [
        "CN=CP-002,O=Example CPO",  # another station's certificate
        "CN=cp-001,O=Example CPO",  # case-sensitive, like station ids
        "O=Example CPO",  # no CN at all
        "CN=CP-001,CN=CP-002",  # two CNs: ambiguous
        "CN=CP-001\\",  # unreadable
        "",
    ],
)
def test_a_verified_certificate_naming_anything_else_is_a_mismatch(dn: str) -> None:
    assert _decide("optional", (VERIFY, "SUCCESS"), (DN, dn)) == "cert_mismatch"


def test_a_verified_certificate_without_exactly_one_dn_header_is_a_mismatch() -> None:
    assert _decide("optional", (VERIFY, "SUCCESS")) == "cert_mismatch"
    two = [(DN, "CN=CP-001"), (DN, "CN=CP-001")]
    assert _decide("optional", (VERIFY, "SUCCESS"), *two) == "cert_mismatch"


@pytest.mark.parametrize("verify", ["FAILED:certificate has expired", "FAILED", "success", "X"])
def test_a_failed_or_unknown_verification_result_fails(verify: str) -> None:
    assert _decide("optional", (VERIFY, verify), (DN, "CN=CP-001")) == "cert_failed"


def test_a_verify_header_sent_twice_fails() -> None:
    pairs = [(VERIFY, "SUCCESS"), (VERIFY, "SUCCESS"), (DN, "CN=CP-001")]
    assert _decide("optional", *pairs) == "cert_failed"


@pytest.mark.parametrize("pairs", [(), ((VERIFY, "NONE"),), ((VERIFY, ""),), ((DN, "CN=CP-001"),)])
def test_no_certificate_falls_back_when_optional_and_is_refused_when_required(
    pairs: tuple[tuple[str, str], ...],
) -> None:
    assert _decide("optional", *pairs) is None
    assert _decide("required", *pairs) == "cert_missing"


def test_off_ignores_the_headers_entirely() -> None:
    assert _decide("off", (VERIFY, "SUCCESS"), (DN, "CN=CP-001")) is None
    assert _decide("off", (VERIFY, "FAILED:x"), (DN, "CN=CP-001")) is None
    assert _decide("off", (VERIFY, "SUCCESS"), (DN, "CN=CP-002")) is None


def test_the_header_names_are_configurable_and_case_insensitive() -> None:
    headers = Headers([("X-Client-Verify", "SUCCESS"), ("X-Client-DN", "CN=CP-001")])
    decision = check_client_certificate(
        "CP-001", headers, "required", "x-client-verify", "x-client-dn"
    )
    assert decision == "authenticated"
    # The default names are then not looked at.
    forged = Headers([(VERIFY, "SUCCESS"), (DN, "CN=CP-001")])
    decision = check_client_certificate(
        "CP-001", forged, "required", "x-client-verify", "x-client-dn"
    )
    assert decision == "cert_missing"


def test_refusal_texts_are_fixed_and_cover_every_refusal() -> None:
    assert set(CERT_REFUSED) == {"cert_mismatch", "cert_failed", "cert_missing"}
    assert all("CP-" not in text for text in CERT_REFUSED.values())


def test_settings_read_and_validate_the_client_certificate_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings.from_env()
    assert defaults.gateway_client_cert == "off"
    assert defaults.gateway_client_cert_verify_header == "ssl-client-verify"
    assert defaults.gateway_client_cert_dn_header == "ssl-client-subject-dn"
    for mode in CLIENT_CERT_MODES:
        monkeypatch.setenv("GATEWAY_CLIENT_CERT", mode)
        assert Settings.from_env().gateway_client_cert == mode
    monkeypatch.setenv("GATEWAY_CLIENT_CERT_VERIFY_HEADER", "x-ssl-client-verify")
    monkeypatch.setenv("GATEWAY_CLIENT_CERT_DN_HEADER", "x-ssl-client-s-dn")
    settings = Settings.from_env()
    assert settings.gateway_client_cert_verify_header == "x-ssl-client-verify"
    assert settings.gateway_client_cert_dn_header == "x-ssl-client-s-dn"
    monkeypatch.setenv("GATEWAY_CLIENT_CERT", "on")
    with pytest.raises(ValueError, match="GATEWAY_CLIENT_CERT must be one of"):
        Settings.from_env()


def test_context_from_settings_hands_the_mode_to_the_front_door(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_CLIENT_CERT", "required")
    monkeypatch.setenv("GATEWAY_CLIENT_CERT_DN_HEADER", "x-dn")
    ctx = context_from_settings(
        Settings.from_env(),
        RecordingPublisher(),  # type: ignore[arg-type]
        FixedDecisions(),
        None,
        None,
    )
    assert ctx.door.client_cert == "required"
    assert ctx.door.client_cert_verify_header == "ssl-client-verify"
    assert ctx.door.client_cert_dn_header == "x-dn"


def _rejected(reason: str) -> float:
    labels = {"reason": reason}
    return REGISTRY.get_sample_value("csms_gateway_handshakes_rejected_total", labels) or 0.0


async def test_required_mode_refuses_without_a_registry_too() -> None:
    """No registry (dev): no Basic auth to fall back to, but `required` still refuses."""
    ctx = make_context(RecordingPublisher(), door=FrontDoor(None, client_cert="required"))
    reasons = ("cert_missing", "cert_mismatch", "cert_failed")
    before = [_rejected(r) for r in reasons]
    async with running(ctx, PORT):
        for headers, body in [
            ({}, CERT_REFUSED["cert_missing"]),
            ({VERIFY: "SUCCESS", DN: "CN=CP-002"}, CERT_REFUSED["cert_mismatch"]),
            ({VERIFY: "FAILED:unsupported certificate purpose"}, CERT_REFUSED["cert_failed"]),
        ]:
            with pytest.raises(InvalidStatus) as info:
                async with ws_connect(PORT, "CP-001", additional_headers=headers):
                    pass
            assert info.value.response.status_code == 403
            assert info.value.response.body.decode() == body + "\n"
        verified = {VERIFY: "SUCCESS", DN: "CN=CP-001,O=Example CPO"}
        async with ws_connect(PORT, "CP-001", additional_headers=verified) as ws:
            await ws.send(orjson.dumps([2, "h", "Heartbeat", {}]).decode())
            assert orjson.loads(await ws.recv())[:2] == [3, "h"]
    assert [_rejected(r) for r in reasons] == [b + 1 for b in before]
