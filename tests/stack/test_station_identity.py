"""A station cannot act as another, on the real stack (a gateway process, Kafka, Redis DB 8):
another station's credentials, a wrong password or none at all for a station id are refused
before any session, the genuine station's connection stays up (a takeover needs the station's
own credentials), ids smuggled through the path are refused or stay ids of their own, and every
frame in Kafka carries the station that authenticated."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.stack.gateway_process import register_passwords, running_gateway
from tests.stack.kafka_reader import read_frames

pytestmark = pytest.mark.stack

PORT = 19793
REDIS_URL = "redis://127.0.0.1:6379/8"
KAFKA = "127.0.0.1:9092"
PASSWORDS = {"ID-A": "password-of-station-a-0123", "ID-B": "password-of-station-b-4567"}


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    register_passwords(REDIS_URL, PASSWORDS).close()
    with running_gateway(
        "identity", PORT, redis_url=REDIS_URL, kafka=KAFKA, logs=tmp_path_factory.mktemp("gw"),
        GATEWAY_ADMISSION="closed", GATEWAY_REQUIRE_AUTH="true",
    ) as (_, prefix, _):  # fmt: skip
        yield prefix


def _connect(path: str, headers: dict[str, str] | None = None) -> connect:
    return connect(
        f"ws://127.0.0.1:{PORT}{path}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=headers or {},
    )


async def _refused(path: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with _connect(path, headers):
            pass
    return info.value.response.status_code


async def _call(
    ws: ClientConnection, uid: str, action: str, payload: Mapping[str, object]
) -> list[object]:
    await ws.send(orjson.dumps([2, uid, action, payload]).decode())
    answer: list[object] = orjson.loads(await ws.recv())
    return answer


async def test_a_station_cannot_connect_or_take_over_as_another(gateway: str) -> None:
    async with _connect("/ocpp/ID-A", _auth("ID-A", PASSWORDS["ID-A"])) as genuine:
        boot = {"chargePointVendor": "V", "chargePointModel": "M"}
        answer = await _call(genuine, "a1", "BootNotification", boot)
        assert answer[:2] == [3, "a1"] and isinstance(answer[2], dict)
        assert answer[2]["status"] == "Accepted"
        attempts = {
            "B's credentials for A's id": ("/ocpp/ID-A", _auth("ID-B", PASSWORDS["ID-B"])),
            "A's id, B's password": ("/ocpp/ID-A", _auth("ID-A", PASSWORDS["ID-B"])),
            "A's id, no credentials": ("/ocpp/ID-A", None),
            "A's user for B's id": ("/ocpp/ID-B", _auth("ID-A", PASSWORDS["ID-A"])),
        }
        statuses = {
            name: await _refused(path, headers) for name, (path, headers) in attempts.items()
        }
        assert statuses == dict.fromkeys(attempts, 401)
        # The genuine station was never evicted by the attempts: it is still served.
        assert (await _call(genuine, "a2", "Heartbeat", {}))[:2] == [3, "a2"]


@pytest.mark.parametrize(
    "path",
    ["/ocpp/ID-B/..%2FID-A", "/ocpp/ID-A%2F..%2FID-B", "/ocpp/..%2Focpp%2FID-A", "/ocpp/ID-A/extra",
     "/ocpp/%49D-A%00", "/ocpp/ID-A?station=ID-B"],
)  # fmt: skip
async def test_ids_smuggled_through_the_path_are_refused(gateway: str, path: str) -> None:
    # With B's valid credentials, none of these may become a session as A (or as B).
    assert await _refused(path, _auth("ID-B", PASSWORDS["ID-B"])) in {400, 401, 403, 404}


async def test_every_frame_in_kafka_carries_the_station_that_authenticated(gateway: str) -> None:
    async with _connect("/ocpp/ID-B", _auth("ID-B", PASSWORDS["ID-B"])) as ws:
        # B names A inside its payloads: the frames are still B's.
        answer = await _call(ws, "b1", "DataTransfer", {"vendorId": "ID-A", "data": "I am ID-A"})
        assert answer[:2] == [3, "b1"]
    frames = await read_frames(
        KAFKA, f"{gateway}ocpp.frames", lambda env: env.uid == "b1", min_count=2
    )
    assert {env.station for env in frames} == {"ID-B"}
