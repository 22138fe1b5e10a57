"""Operator commands through the API over real Redis pub/sub, with a scripted gateway.

The gateway here is a stand-in that subscribes to its calls channel and answers per action, so
every API outcome (200, 202 + poll, 404, 409, 422, 502, 504) is reached without a WebSocket;
the real gateway is exercised by tests/stack/test_api_commands.py.
"""

from __future__ import annotations

import asyncio

import httpx
import orjson
from redis.asyncio import Redis

from csms.infra import redis_keys
from tests.unit.api.memory_audit import MemoryAudit
from tests.unit.api_commands.scripted import AUTH, GATEWAY, ScriptedGateway


async def _station(redis: Redis, station: str, protocol: str, *, online: bool = True) -> None:
    await redis.sadd(redis_keys.STATIONS, station)
    await redis.hset(redis_keys.station(station), mapping={"protocol": protocol})
    if online:
        route = {"gateway": GATEWAY, "conn": "c1", "epoch": "1", "since_ms": "0"}
        # redis-py types `mapping` with invariant keys: a plain dict[str, str] does not fit.
        await redis.hset(redis_keys.station_route(station), mapping=route)  # type: ignore[arg-type]


async def test_a_neutral_command_is_translated_for_the_station_version(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway, audit: MemoryAudit
) -> None:
    await _station(redis, "CP16", "ocpp1.6")
    await _station(redis, "CP201", "ocpp2.0.1")
    r16 = await api.post(
        "/api/v1/stations/CP16/commands/reset", json={"type": "immediate"}, headers=AUTH
    )
    r201 = await api.post(
        "/api/v1/stations/CP201/commands/reset", json={"type": "immediate"}, headers=AUTH
    )
    assert r16.status_code == 200, r16.text
    assert r201.status_code == 200, r201.text
    assert r16.json()["result"]["status"] == "Accepted"
    assert r16.json()["state"] == "completed"
    sent = {(req.station, req.action, orjson.dumps(req.payload)) for req in gateway.requests}
    assert ("CP16", "Reset", b'{"type":"Hard"}') in sent
    assert ("CP201", "Reset", b'{"type":"Immediate"}') in sent
    # Requested and finished, with who did it, on ocpp.commands.
    actions = [(topic, rec["action"], rec["actor"]) for topic, _, rec in audit.records]
    assert actions.count(("ocpp.commands", "command.requested", "env:CSMS_API_TOKEN")) == 2
    assert actions.count(("ocpp.commands", "command.finished", "env:CSMS_API_TOKEN")) == 2


async def test_a_command_can_be_polled_when_async(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway
) -> None:
    await _station(redis, "CP1", "ocpp2.0.1")
    accepted = await api.post(
        "/api/v1/stations/CP1/commands/clear-cache?async=true", json={}, headers=AUTH
    )
    assert accepted.status_code == 202, accepted.text
    href = accepted.json()["href"]
    for _ in range(100):
        polled = await api.get(href, headers=AUTH)
        if polled.json()["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert polled.status_code == 200
    assert polled.json()["state"] == "completed"
    assert polled.json()["calls"][0]["action"] == "ClearCache"


async def test_errors_are_documented_statuses(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway
) -> None:
    await _station(redis, "CP16", "ocpp1.6")
    await _station(redis, "OFF", "ocpp1.6", online=False)
    gateway.answers["ClearCache"] = ("error", {"code": "NotSupported", "description": "no cache"})
    gateway.answers["UnlockConnector"] = ("silent", {})
    gateway.answers["GetLocalListVersion"] = ("invalid", {"listVersion": "x"})

    unknown = await api.post("/api/v1/stations/NOPE/commands/clear-cache", json={}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["error"] == "station_not_found"

    offline = await api.post("/api/v1/stations/OFF/commands/clear-cache", json={}, headers=AUTH)
    assert offline.status_code == 409 and offline.json()["error"] == "station_offline"

    unsupported = await api.post(
        "/api/v1/stations/CP16/commands/cost-updated",
        json={"total_cost": 1.5, "transaction_id": "1"},
        headers=AUTH,
    )
    assert unsupported.status_code == 422
    assert "1.6" in unsupported.json()["detail"]

    invalid = await api.post(
        "/api/v1/stations/CP16/commands/reset", json={"type": "sometime"}, headers=AUTH
    )
    assert invalid.status_code == 422

    station_error = await api.post(
        "/api/v1/stations/CP16/commands/clear-cache", json={}, headers=AUTH
    )
    assert station_error.status_code == 502
    assert station_error.json()["station_error"]["code"] == "NotSupported"

    bad_answer = await api.post(
        "/api/v1/stations/CP16/commands/get-local-list-version", json={}, headers=AUTH
    )
    assert bad_answer.status_code == 502 and bad_answer.json()["error"] == "invalid_response"

    silent = await api.post(
        "/api/v1/stations/CP16/commands/unlock-connector?timeout=0.2",
        json={"connector_id": 1},
        headers=AUTH,
    )
    assert silent.status_code == 504, silent.text
    assert silent.json()["command_id"]


async def test_a_gateway_that_is_gone_fails_at_once(api: httpx.AsyncClient, redis: Redis) -> None:
    await _station(redis, "CP1", "ocpp1.6")  # routed to gw-fake, but nobody listens
    response = await api.post("/api/v1/stations/CP1/commands/clear-cache", json={}, headers=AUTH)
    assert response.status_code == 409
    assert "not listening" in response.json()["detail"]


async def test_raw_calls_are_validated_against_the_station_version(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway
) -> None:
    await _station(redis, "CP16", "ocpp1.6")
    gateway.answers["GetConfiguration"] = ("result", {"configurationKey": [], "unknownKey": ["X"]})
    ok = await api.post(
        "/api/v1/stations/CP16/calls",
        json={"action": "GetConfiguration", "payload": {"key": ["X"]}},
        headers=AUTH,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"] == {"configurationKey": [], "unknownKey": ["X"]}

    wrong_version = await api.post(
        "/api/v1/stations/CP16/calls",
        json={"action": "GetVariables", "payload": {"getVariableData": []}},
        headers=AUTH,
    )
    assert wrong_version.status_code == 422
    schema = await api.post(
        "/api/v1/stations/CP16/calls",
        json={"action": "Reset", "payload": {"type": "Later"}},
        headers=AUTH,
    )
    assert schema.status_code == 422


async def test_commands_need_an_operator_token(api: httpx.AsyncClient, redis: Redis) -> None:
    await _station(redis, "CP1", "ocpp1.6")
    anonymous = await api.post("/api/v1/stations/CP1/commands/clear-cache", json={})
    assert anonymous.status_code == 401
    wrong = await api.post(
        "/api/v1/stations/CP1/commands/clear-cache",
        json={},
        headers={"Authorization": "Bearer nope"},
    )
    assert wrong.status_code == 401


async def test_every_command_has_a_documented_route(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    paths = schema["paths"]
    assert "/api/v1/stations/{station_id}/commands/reset" in paths
    assert "/api/v1/stations/{station_id}/calls" in paths
    assert "/api/v1/commands/{command_id}" in paths
    body = paths["/api/v1/stations/{station_id}/commands/remote-start"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("RemoteStartCommand")
