"""Admission, security profile 1 and the registration state, over a real WebSocket and the
real station registry in Redis (DB 7)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.exceptions import InvalidStatus

from csms.infra.station_registry import ACCEPTED, PENDING, REJECTED, StationRegistry
from services.gateway.handshake import FrontDoor
from tests.unit.gateway.fakes import RecordingPublisher
from tests.unit.gateway.helpers import make_context, redis_db7, running, ws_connect

PORT = 19781
PASSWORD = "correct-horse-battery-staple"
BOOT16 = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _rejected(reason: str) -> float:
    labels = {"reason": reason}
    return REGISTRY.get_sample_value("csms_gateway_handshakes_rejected_total", labels) or 0.0


@pytest.fixture
async def registry() -> AsyncIterator[StationRegistry]:
    async with redis_db7() as redis:
        yield StationRegistry(redis)


async def _status_of_handshake(station: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(PORT, station, **kwargs):  # type: ignore[arg-type]
            pass
    return info.value.response.status_code


async def test_closed_admission_refuses_unknown_and_rejected_stations(
    registry: StationRegistry,
) -> None:
    await registry.set_status("CP-OK", ACCEPTED)
    await registry.set_status("CP-NO", REJECTED)
    ctx = make_context(RecordingPublisher(), door=FrontDoor(registry, "closed"))
    before = (_rejected("unknown_station"), _rejected("rejected"))
    async with running(ctx, PORT):
        assert await _status_of_handshake("CP-UNKNOWN") == 403
        assert await _status_of_handshake("CP-NO") == 403
        async with ws_connect(PORT, "CP-OK") as ws:
            await ws.send(orjson.dumps([2, "h", "Heartbeat", {}]).decode())
            assert orjson.loads(await ws.recv())[:2] == [3, "h"]
    assert (_rejected("unknown_station"), _rejected("rejected")) == (before[0] + 1, before[1] + 1)


async def test_open_admission_lets_unknown_stations_boot(registry: StationRegistry) -> None:
    ctx = make_context(RecordingPublisher(), door=FrontDoor(registry, "open"))
    async with running(ctx, PORT), ws_connect(PORT, "CP-NEW") as ws:
        await ws.send(orjson.dumps(BOOT16).decode())
        assert orjson.loads(await ws.recv())[2]["status"] == "Accepted"


async def test_basic_auth_is_required_when_the_station_has_a_password(
    registry: StationRegistry,
) -> None:
    await registry.set_password("CP-PW", PASSWORD)
    ctx = make_context(RecordingPublisher(), door=FrontDoor(registry, "closed"))
    async with running(ctx, PORT):
        with pytest.raises(InvalidStatus) as info:
            async with ws_connect(PORT, "CP-PW"):
                pass
        assert info.value.response.status_code == 401
        assert info.value.response.headers["WWW-Authenticate"] == 'Basic realm="csms"'
        bad = [_basic("CP-PW", "wrong-password-xxxxxx"), _basic("CP-OTHER", PASSWORD)]
        for headers in bad:
            assert await _status_of_handshake("CP-PW", additional_headers=headers) == 401
        async with ws_connect(PORT, "CP-PW", additional_headers=_basic("CP-PW", PASSWORD)) as ws:
            await ws.send(orjson.dumps([2, "h", "Heartbeat", {}]).decode())
            assert orjson.loads(await ws.recv())[:2] == [3, "h"]


async def test_user_must_equal_the_percent_decoded_station_id(registry: StationRegistry) -> None:
    await registry.set_password("CP:1", PASSWORD)
    ctx = make_context(RecordingPublisher(), door=FrontDoor(registry, "closed"))
    async with running(ctx, PORT):
        ok = _basic("CP:1", PASSWORD)
        async with ws_connect(PORT, "CP%3A1", additional_headers=ok) as ws:
            await ws.send(orjson.dumps([2, "h", "Heartbeat", {}]).decode())
            assert orjson.loads(await ws.recv())[:2] == [3, "h"]
        encoded_user = _basic("CP%3A1", PASSWORD)
        assert await _status_of_handshake("CP%3A1", additional_headers=encoded_user) == 401


async def test_require_auth_refuses_stations_without_a_password(
    registry: StationRegistry,
) -> None:
    await registry.set_status("CP-NOPW", ACCEPTED)
    before = _rejected("auth_missing")
    ctx = make_context(RecordingPublisher(), door=FrontDoor(registry, "open", require_auth=True))
    async with running(ctx, PORT):
        assert await _status_of_handshake("CP-NOPW") == 401
        headers = _basic("CP-NOPW", PASSWORD)
        assert await _status_of_handshake("CP-NOPW", additional_headers=headers) == 401
    assert _rejected("auth_missing") == before + 1


async def test_pending_station_may_only_boot_until_accepted(registry: StationRegistry) -> None:
    await registry.set_status("PENDING-1", PENDING)
    publisher = RecordingPublisher()
    ctx = make_context(publisher, door=FrontDoor(registry, "pending"))
    status = [
        2,
        "s",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    ]
    async with running(ctx, PORT), ws_connect(PORT, "PENDING-1") as ws:
        await ws.send(orjson.dumps(status).decode())
        assert orjson.loads(await ws.recv())[:3] == [4, "s", "SecurityError"]
        # B02.FR.09: checked before the schema, so even a malformed Heartbeat gets SecurityError.
        await ws.send(orjson.dumps([2, "h", "Heartbeat", {"bogus": 1}]).decode())
        assert orjson.loads(await ws.recv())[:3] == [4, "h", "SecurityError"]
        await ws.send(orjson.dumps(BOOT16).decode())  # FixedDecisions: PENDING* stay Pending
        assert orjson.loads(await ws.recv())[2]["status"] == "Pending"
        await ws.send(orjson.dumps(status).decode())
        assert orjson.loads(await ws.recv())[2] == "SecurityError"
    flagged = [e for e in publisher.envelopes if e.err == "SecurityError"]
    assert [e.action for e in flagged] == ["StatusNotification", "Heartbeat", "StatusNotification"]


async def test_a_boot_answered_accepted_lifts_the_pending_restriction(
    registry: StationRegistry,
) -> None:
    await registry.set_status("CP-LATER", PENDING)  # FixedDecisions accepts CP-* at boot
    ctx = make_context(RecordingPublisher(), door=FrontDoor(registry, "pending"))
    status = [
        2,
        "s",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    ]
    async with running(ctx, PORT), ws_connect(PORT, "CP-LATER") as ws:
        await ws.send(orjson.dumps(status).decode())
        assert orjson.loads(await ws.recv())[2] == "SecurityError"
        await ws.send(orjson.dumps(BOOT16).decode())
        assert orjson.loads(await ws.recv())[2]["status"] == "Accepted"
        await ws.send(orjson.dumps(status).decode())
        assert orjson.loads(await ws.recv())[:2] == [3, "s"]
    await asyncio.sleep(0)
