"""The front door: every check made on the HTTP upgrade request, before a session exists.

Order: plain HTTP (health, metrics) → station id → subprotocol → admission (registry) →
security profile 3 (client certificate, verified by the TLS-terminating proxy) → security
profile 1/2 (HTTP Basic). Refusals carry fixed texts (never input) and count in
`csms_gateway_handshakes_rejected_total{reason}`; the reasons are a closed set.
"""

from __future__ import annotations

import base64
import binascii
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from csms.infra.station_registry import PENDING, REJECTED, Registration, StationRegistry
from csms.protocol.station_path import InvalidStationPath, station_id_from_path
from csms.protocol.versions import SUBPROTOCOLS, negotiate
from csms.security.client_cert import ClientCertMode, InvalidDN, common_names
from services.gateway import metrics

Admission = Literal["open", "pending", "closed"]
# What the proxy's certificate headers say about a station: authenticated by its certificate,
# refused (the reason), or None = no certificate, Basic auth decides.
CertRefusal = Literal["cert_mismatch", "cert_failed", "cert_missing"]
CertDecision = Literal["authenticated"] | CertRefusal | None

NO_SUBPROTOCOL = "no supported OCPP subprotocol offered; offer one of " + ", ".join(SUBPROTOCOLS)
NOT_ADMITTED = "station not admitted"  # same text for unknown and rejected: no enumeration
REGISTRY_DOWN = "station registry unavailable; retry later"
UNAUTHORIZED = "valid HTTP Basic credentials for this station are required"
REALM_HEADER = 'Basic realm="csms"'
CERT_REFUSED: dict[CertRefusal, str] = {
    "cert_mismatch": "client certificate does not identify this station",
    "cert_failed": "client certificate verification failed",
    "cert_missing": "a verified client certificate is required",
}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrontDoor:
    """Admission policy and credentials; `registry=None` admits everyone (unit tests, dev)."""

    registry: StationRegistry | None = None
    admission: Admission = "open"
    require_auth: bool = False
    client_cert: ClientCertMode = "off"
    client_cert_verify_header: str = "ssl-client-verify"
    client_cert_dn_header: str = "ssl-client-subject-dn"


# The registration read at the handshake, handed to the session of that connection.
_registrations: weakref.WeakKeyDictionary[ServerConnection, Registration | None] = (
    weakref.WeakKeyDictionary()
)


def registration_of(connection: ServerConnection) -> Registration | None:
    return _registrations.get(connection)


def text_response(status: HTTPStatus, body: str, content_type: str = "text/plain") -> Response:
    headers = Headers([("Content-Type", f"{content_type}; charset=utf-8")])
    return Response(status.value, status.phrase, headers, body.encode())


def reject(reason: str, status: HTTPStatus, message: str) -> Response:
    metrics.HANDSHAKES_REJECTED.labels(reason).inc()
    return text_response(status, message + "\n")


def _unauthorized(reason: str) -> Response:
    response = reject(reason, HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
    response.headers["WWW-Authenticate"] = REALM_HEADER
    return response


def offered_subprotocols(request: Request) -> list[str]:
    offered: list[str] = []
    for value in request.headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(p.strip() for p in value.split(",") if p.strip())
    return offered


def basic_credentials(request: Request) -> str | None:
    """The decoded `user:password` of an `Authorization: Basic …` header (None when absent or
    malformed). Not split here: RFC 7617 forbids ':' in the user, but OCPP station ids may hold
    one, so the caller strips the station id it expects instead of splitting at the first ':'."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def check_credentials(
    station: str, registration: Registration | None, request: Request, require_auth: bool
) -> str | None:
    """The rejection reason of security profile 1, or None when the station may pass."""
    has_password = registration is not None and registration.has_password
    if not (require_auth or has_password):
        return None
    credentials = basic_credentials(request)
    if credentials is None:
        return "auth_missing"
    user_prefix = station + ":"
    if not credentials.startswith(user_prefix) or registration is None:
        return "auth_failed"
    if not registration.password_matches(credentials[len(user_prefix) :]):
        return "auth_failed"
    return None


def check_client_certificate(
    station: str, headers: Headers, mode: ClientCertMode, verify_header: str, dn_header: str
) -> CertDecision:
    """Security profile 3 from the headers of the proxy that verified the client certificate:
    `SUCCESS` with a DN whose single CN is exactly `station` authenticates; any other verified
    DN is a mismatch; `FAILED:…` (or anything unknown) fails; no certificate (`NONE`, absent)
    is refused only when required. A proxy sets each header once (nginx's proxy_set_header
    replaces the client's own), so a header seen twice is refused rather than guessed at."""
    if mode == "off":
        return None
    verify = headers.get_all(verify_header)
    if len(verify) > 1:
        return "cert_failed"
    result = verify[0].strip() if verify else ""
    if result in {"", "NONE"}:
        return "cert_missing" if mode == "required" else None
    if result != "SUCCESS":
        return "cert_failed"
    dns = headers.get_all(dn_header)
    try:
        names = common_names(dns[0]) if len(dns) == 1 else []
    except InvalidDN:
        names = []
    return "authenticated" if names == [station] else "cert_mismatch"


def _plain_http(path: str) -> Response | None:
    if path == "/health":
        return text_response(HTTPStatus.OK, "ok\n")
    if path == "/metrics":
        headers = Headers([("Content-Type", CONTENT_TYPE_LATEST)])
        return Response(200, "OK", headers, generate_latest())
    return None


ProcessRequest = Callable[[ServerConnection, Request], Awaitable[Response | None]]


def make_process_request(door: FrontDoor) -> ProcessRequest:
    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        plain = _plain_http(request.path.split("?", 1)[0])
        if plain is not None:
            return plain
        try:
            station = station_id_from_path(request.path)
        except InvalidStationPath as exc:
            status = HTTPStatus.NOT_FOUND if "path must be" in str(exc) else HTTPStatus.BAD_REQUEST
            return reject("station_id", status, str(exc))
        if negotiate(offered_subprotocols(request)) is None:
            return reject("subprotocol", HTTPStatus.BAD_REQUEST, NO_SUBPROTOCOL)
        if door.registry is None:
            return _refuse_certificate(_certificate(door, station, request))
        try:
            registration = await door.registry.get(station)
        except RedisError as exc:
            # Admission cannot be decided: refuse (the station retries) rather than admit blind.
            log.warning("station registry unavailable: %s", exc)
            return reject("registry_unavailable", HTTPStatus.SERVICE_UNAVAILABLE, REGISTRY_DOWN)
        refusal = _admission_refusal(door, registration)
        if refusal is not None:
            return reject(refusal, HTTPStatus.FORBIDDEN, NOT_ADMITTED)
        cert = _certificate(door, station, request)
        cert_refusal = _refuse_certificate(cert)
        if cert_refusal is not None:
            return cert_refusal
        if cert is None:  # no certificate: security profile 1/2 decides
            auth_failure = check_credentials(station, registration, request, door.require_auth)
            if auth_failure is not None:
                return _unauthorized(auth_failure)
        _registrations[connection] = registration
        return None

    return process_request


def _certificate(door: FrontDoor, station: str, request: Request) -> CertDecision:
    return check_client_certificate(
        station,
        request.headers,
        door.client_cert,
        door.client_cert_verify_header,
        door.client_cert_dn_header,
    )


def _refuse_certificate(cert: CertDecision) -> Response | None:
    """The 403 of a certificate refusal. Also applied without a registry (no Basic auth to fall
    back to): a profile-3-only network stays one."""
    if cert is None or cert == "authenticated":
        return None
    return reject(cert, HTTPStatus.FORBIDDEN, CERT_REFUSED[cert])


def _admission_refusal(door: FrontDoor, registration: Registration | None) -> str | None:
    if registration is None:
        return "unknown_station" if door.admission == "closed" else None
    return "rejected" if registration.status == REJECTED else None


def initial_status(door: FrontDoor, registration: Registration | None) -> str:
    """The registration status a session starts with, before any BootNotification answer."""
    if registration is not None:
        return registration.status
    return PENDING if door.admission == "pending" else ""
