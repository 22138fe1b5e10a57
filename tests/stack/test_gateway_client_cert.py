"""Security profile 3 behind a TLS-terminating proxy, on the real stack: a gateway process
(port 19795) against the real Kafka and Redis (DB 15), GATEWAY_CLIENT_CERT=optional and closed
admission, every station registered with a password.

No nginx here: the WebSocket client sends the `ssl-client-verify` / `ssl-client-subject-dn`
headers itself, exactly as ingress-nginx would after verifying the client certificate (which is
why `off`, the default, ignores them)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.stack.gateway_process import register_stations, running_gateway
from tests.stack.kafka_reader import read_frames

pytestmark = pytest.mark.stack

PORT = 19795
REDIS_URL = "redis://127.0.0.1:6379/15"
KAFKA = "127.0.0.1:9092"
PASSWORD = "stack-password-cert-0123456789"
STATIONS = ["CC-0", "CC-1"]
URL = f"ws://127.0.0.1:{PORT}/ocpp"


def _auth(station: str) -> dict[str, str]:
    token = base64.b64encode(f"{station}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _cert(verify: str, dn: str | None = None) -> dict[str, str]:
    """The headers ingress-nginx sets after the TLS handshake (auth-tls-* annotations)."""
    headers = {"ssl-client-verify": verify}
    if dn is not None:
        headers["ssl-client-subject-dn"] = dn
    return headers


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    register_stations(REDIS_URL, STATIONS, PASSWORD).close()
    with running_gateway(
        "client-cert", PORT, redis_url=REDIS_URL, kafka=KAFKA, logs=tmp_path_factory.mktemp("gw"),
        GATEWAY_ADMISSION="closed", GATEWAY_CLIENT_CERT="optional", GATEWAY_DRAIN_WINDOW_S="0.5",
    ) as (_, prefix, log):  # fmt: skip
        yield prefix, log


async def _boot(ws: ClientConnection) -> object:
    boot = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    await ws.send(orjson.dumps(boot).decode())
    answer = orjson.loads(await ws.recv())
    assert answer[:2] == [3, "b"]
    return answer[2]["status"]


async def _refused(station: str, headers: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            f"{URL}/{station}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
        ):
            pass
    return info.value.response.status_code, info.value.response.body.decode()


def _rejected(reason: str) -> float:
    """The gateway's own csms_gateway_handshakes_rejected_total{reason}, read from /metrics."""
    metrics = httpx.get(f"http://127.0.0.1:{PORT}/metrics", timeout=5).text
    prefix = f'csms_gateway_handshakes_rejected_total{{reason="{reason}"}} '
    lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


async def test_client_certificate_or_basic_auth_at_the_front_door(
    gateway: tuple[str, Path],
) -> None:
    prefix, log = gateway
    reasons = ("cert_mismatch", "cert_failed", "auth_missing", "unknown_station")
    before = {reason: _rejected(reason) for reason in reasons}

    # A verified certificate whose CN is the station id: no Basic auth needed (profile 3).
    verified = _cert("SUCCESS", "CN=CC-0,O=Example CPO")
    async with connect(f"{URL}/CC-0", subprotocols=["ocpp1.6"], additional_headers=verified) as ws:  # type: ignore[list-item]
        assert await _boot(ws) == "Accepted"

    # Another station's certificate, or one the proxy could not verify: 403, fixed texts.
    mismatch = await _refused("CC-1", _cert("SUCCESS", "CN=CC-0,O=Example CPO") | _auth("CC-1"))
    assert mismatch == (403, "client certificate does not identify this station\n")
    failed = await _refused("CC-1", _cert("FAILED:certificate has expired", "CN=CC-1"))
    assert failed == (403, "client certificate verification failed\n")
    # Admission comes first: a verified certificate does not admit an unknown station.
    unknown = await _refused("CC-unknown", _cert("SUCCESS", "CN=CC-unknown"))
    assert unknown == (403, "station not admitted\n")

    # No certificate (`NONE`, or no header at all): profile 2, Basic auth decides.
    for headers in (_cert("NONE") | _auth("CC-1"), _auth("CC-1")):
        async with connect(
            f"{URL}/CC-1",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
        ) as ws:
            assert await _boot(ws) == "Accepted"
    missing = await _refused("CC-1", _cert("NONE"))
    assert missing[0] == 401

    after = {reason: _rejected(reason) for reason in reasons}
    assert after == {
        "cert_mismatch": before["cert_mismatch"] + 1,
        "cert_failed": before["cert_failed"] + 1,
        "auth_missing": before["auth_missing"] + 1,
        "unknown_station": before["unknown_station"] + 1,
    }, log.read_text()[-4000:]

    # The accepted sessions went through the gateway as usual: their boots are in Kafka.
    frames = await read_frames(
        KAFKA,
        f"{prefix}ocpp.frames",
        lambda env: env.station in STATIONS and env.kind == "call",
        3,
    )
    boots = sorted((env.station, env.action) for env in frames if env.kind == "call")
    assert boots == [
        ("CC-0", "BootNotification"),
        ("CC-1", "BootNotification"),
        ("CC-1", "BootNotification"),
    ]
