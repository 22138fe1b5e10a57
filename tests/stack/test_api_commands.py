"""Operator commands on the real stack: API (`csms up`) → Redis → gateway → a real `ocpp`
ChargePoint → back. A 1.6 charger is on the stack's gateway, a 2.0.1 charger on a second gateway
process (port 19731, same Redis and topics): one API reaches both. Errors (unknown, offline,
invalid, unsupported, timeout) come back as documented, roles are enforced, and every command is
on ocpp.commands with who sent it, its CALL and the answer on ocpp.frames."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.stack.chargers import Charger16, Charger201, charger
from tests.stack.conftest import Stack, wait_http
from tests.stack.kafka_reader import read_records

pytestmark = pytest.mark.stack

SECOND_GATEWAY_PORT = 19731
RUN = uuid.uuid4().hex[:6]
CP16, CP201 = f"CMD-16-{RUN}", f"CMD-201-{RUN}"


@pytest.fixture(scope="module")
def second_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gw2") / "gateway.log"
    env = stack.env | {"GATEWAY_PORT": str(SECOND_GATEWAY_PORT), "GATEWAY_ID": "gw-e2e-other"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "gateway"], env=env, stdout=out, stderr=out
        )
    try:
        url = f"http://127.0.0.1:{SECOND_GATEWAY_PORT}/health"
        wait_http(url, time.monotonic() + 60, proc, log)
        yield f"ws://127.0.0.1:{SECOND_GATEWAY_PORT}/ocpp"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def booted_chargers(stack: Stack, second: str) -> AsyncIterator[tuple[Any, Any]]:
    async with (
        charger(f"{stack.gateway_url}/ocpp/{CP16}", Charger16, CP16, "ocpp1.6") as cp16,
        charger(f"{second}/{CP201}", Charger201, CP201, "ocpp2.0.1") as cp201,
    ):
        await cp16.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await cp201.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        yield cp16, cp201


async def _command(
    api: httpx.AsyncClient, station: str, name: str, body: dict[str, Any], **params: Any
) -> httpx.Response:
    return await api.post(f"/api/v1/stations/{station}/commands/{name}", json=body, params=params)


async def _kafka(stack: Stack, topic: str, match: bytes, min_count: int) -> list[dict[str, Any]]:
    """The JSON records of `topic` whose value contains `match`."""
    topic = f"{stack.topic_prefix}{topic}"
    records = await read_records(
        stack.kafka_bootstrap, topic, lambda r: match in r.value, min_count
    )
    return [orjson.loads(r.value) for r in records]


async def test_one_api_reaches_stations_of_both_versions_on_two_gateways(
    stack: Stack, second_gateway: str
) -> None:
    headers = stack.api_headers
    async with (
        booted_chargers(stack, second_gateway),
        httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=60) as api,
    ):
        for station in (CP16, CP201):
            reset = await _command(api, station, "reset", {"type": "on-idle"})
            assert reset.status_code == 200, reset.text
            assert reset.json()["result"]["status"] == "Accepted"

            config = await _command(
                api, station, "get-configuration", {"keys": ["HeartbeatInterval"]}
            )
            assert config.status_code == 200, config.text
            keys = config.json()["result"]["keys"]
            assert keys[0]["value"] == "300", keys

            availability = await _command(api, station, "change-availability", {"operative": False})
            assert availability.status_code == 200, availability.text
            assert availability.json()["result"]["status"] in ("Accepted", "Scheduled")

        sent = {c["action"] for r in [reset] for c in r.json()["calls"]}
        assert sent == {"Reset"}
        raw = await api.post(
            f"/api/v1/stations/{CP16}/calls",
            json={"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}},
        )
        assert raw.status_code == 200, raw.text
        assert raw.json()["result"]["configurationKey"][0]["key"] == "HeartbeatInterval"

        # The 2.0.1 station answered through the second gateway, which the frames name.
        frames = await _kafka(stack, "ocpp.frames", CP201.encode(), 8)
        resets = [(f["dir"], f["kind"], f["gw"]) for f in frames if f["action"] == "Reset"]
        assert ("out", "call", "gw-e2e-other") in resets
        assert ("in", "result", "gw-e2e-other") in resets

        # Requested and finished, with who did it.
        records = await _kafka(stack, "ocpp.commands", reset.json()["id"].encode(), 2)
        assert {r["action"] for r in records} == {"command.requested", "command.finished"}
        assert all(r["actor"] for r in records)


async def test_errors_are_the_documented_ones(stack: Stack, second_gateway: str) -> None:
    async with (
        booted_chargers(stack, second_gateway),
        httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers, timeout=60) as api,
    ):
        unknown = await _command(api, f"NOPE-{RUN}", "clear-cache", {})
        assert (unknown.status_code, unknown.json()["error"]) == (404, "station_not_found")

        unsupported = await _command(
            api, CP16, "cost-updated", {"transaction_id": "1", "total_cost": 2.5}
        )
        assert unsupported.status_code == 422
        assert "1.6" in unsupported.json()["detail"]

        invalid = await _command(api, CP16, "reset", {"type": "whenever"})
        assert invalid.status_code == 422

        station_error = await _command(api, CP16, "clear-cache", {})
        assert station_error.status_code == 502, station_error.text
        assert station_error.json()["station_error"]["code"] == "NotImplemented"

        # The 2.0.1 charger takes a minute to clear its cache.
        slow = await _command(api, CP201, "clear-cache", {}, timeout=1)
        assert (slow.status_code, slow.json()["error"]) == (504, "timeout")

    # Both chargers are gone: their routes with them.
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=60
    ) as api:
        for _ in range(50):
            offline = await _command(api, CP16, "clear-cache", {})
            if offline.status_code == 409:
                break
            await asyncio.sleep(0.1)
        assert (offline.status_code, offline.json()["error"]) == (409, "station_offline")


async def test_roles_are_enforced(stack: Stack, second_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as api:
        anonymous = await _command(api, CP16, "clear-cache", {})
        assert anonymous.status_code == 401
        minted = await api.post(
            "/api/v1/api-tokens",
            json={"name": f"analyst-{RUN}", "role": "analyst"},
            headers=stack.api_headers,
        )
        assert minted.status_code == 201, minted.text
        analyst = {"Authorization": f"Bearer {minted.json()['token']}"}
        refused = await api.post(
            f"/api/v1/stations/{CP16}/commands/clear-cache", json={}, headers=analyst
        )
        assert refused.status_code == 403
        assert (await api.get("/api/v1/stations", headers=analyst)).status_code == 200
    # The token's creation is on csms.audit with who did it; the token itself is not.
    records = await _kafka(stack, "csms.audit", f"analyst-{RUN}".encode(), 1)
    assert records[0]["action"] == "api_token.create"
    assert records[0]["actor"] == "env:CSMS_API_TOKEN"
    assert minted.json()["token"] not in orjson.dumps(records).decode()
