"""POST /api/v1/tariffs/{id}/push: a tariff version to an OCPP 2.1 station (SetDefaultTariff)
through the command path, over real Redis pub/sub (DB 4, as test_commands_api) with the scripted
gateway stand-in of test_commands_api; the real gateway and station: tests/stack/test_tariff_push.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from csms.domain.tariff_ocpp21 import set_default_tariff_request
from csms.domain.tariffs import parse_tariff
from csms.infra import redis_keys
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from tests.unit.api.api_seed import mint
from tests.unit.api.memory_audit import MemoryAudit
from tests.unit.api_commands.scripted import AUTH, GATEWAY, ScriptedGateway

BODY = {
    "id": "AC-STD",
    "currency": "EUR",
    "energy_per_kwh": "0.30",
    "session_fee": "1.00",
    "tax_rate": "0.19",
    "description": "Standard AC",
}


@pytest.fixture
def api(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The shared API client, as the admin unless a request says otherwise."""
    api.headers.update(AUTH)
    return api


async def _station(redis: Redis, station: str, protocol: str, *, online: bool = True) -> None:
    await redis.sadd(redis_keys.STATIONS, station)
    await redis.hset(redis_keys.station(station), mapping={"protocol": protocol})
    if online:
        await redis.hset(
            redis_keys.station_route(station),
            mapping={
                "gateway": GATEWAY,
                "conn": "c1",
                "epoch": 1,
                "since_ms": 0,
                "proto": protocol,
            },
        )


async def _tariff(api: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    created = await api.post("/api/v1/tariffs", json={**BODY, **extra})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _push(
    api: httpx.AsyncClient,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    **params: Any,
) -> httpx.Response:
    return await api.post(
        f"/api/v1/tariffs/{BODY['id']}/push", json=body, params=params, headers=headers
    )


async def test_push_sends_set_default_tariff_to_a_2_1_station(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway, audit: MemoryAudit
) -> None:
    await _station(redis, "CP21", "ocpp2.1")
    stored = parse_tariff(await _tariff(api))
    operator = await mint(redis, "operator", "op-push")

    resp = await _push(api, {"station_id": "CP21", "evse_id": 2}, headers=operator)

    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert (answer["state"], answer["command"], answer["station"]) == ("completed", "call", "CP21")
    assert answer["result"] == {"status": "Accepted"}
    assert [c["action"] for c in answer["calls"]] == ["SetDefaultTariff"]
    [sent] = gateway.requests
    assert (sent.station, sent.action) == ("CP21", "SetDefaultTariff")
    assert sent.payload == set_default_tariff_request(stored, 2)
    validator(OcppVersion.V21, "SetDefaultTariff")(sent.payload)
    assert sent.payload["tariff"]["tariffId"] == "AC-STD"
    # Recorded on ocpp.commands (requested + finished) and audited as a tariff write.
    records = {rec["action"]: (topic, key, rec) for topic, key, rec in audit.records}
    requested = records["command.requested"]
    assert requested[0] == "ocpp.commands" and requested[2]["actor"] == "op-push"
    assert requested[2]["actions"] == ["SetDefaultTariff"]
    assert records["command.finished"][2]["state"] == "completed"
    topic, key, pushed = records["tariff.push"]
    assert (topic, key) == ("csms.audit", "AC-STD")
    assert (pushed["station"], pushed["evse_id"], pushed["version"]) == ("CP21", 2, 1)
    assert (pushed["command_id"], pushed["outcome"]) == (answer["id"], "result")


async def test_push_a_chosen_version(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway
) -> None:
    await _station(redis, "CP21", "ocpp2.1")
    await _tariff(api)
    edited = await api.put("/api/v1/tariffs/AC-STD", json={**BODY, "energy_per_kwh": "0.40"})
    assert edited.status_code == 200 and edited.json()["version"] == 2

    first = await _push(api, {"station_id": "CP21", "version": 1})
    latest = await _push(api, {"station_id": "CP21"})

    assert first.status_code == latest.status_code == 200
    prices = [r.payload["tariff"]["energy"]["prices"] for r in gateway.requests]
    assert prices == [[{"priceKwh": 0.3}], [{"priceKwh": 0.4}]]
    assert [r.payload["evseId"] for r in gateway.requests] == [0, 0]  # the whole station


async def test_push_needs_a_2_1_station(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway
) -> None:
    await _tariff(api)
    for station, proto in (("CP201", "ocpp2.0.1"), ("CP16", "ocpp1.6")):
        await _station(redis, station, proto)
        resp = await _push(api, {"station_id": station})
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"] == "unsupported_command"
        assert "SetDefaultTariff" in resp.json()["detail"]
        assert "needs OCPP 2.1" in resp.json()["detail"]
    assert gateway.requests == []


async def test_push_errors(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway, audit: MemoryAudit
) -> None:
    await _station(redis, "CP21", "ocpp2.1")
    await _station(redis, "OFF21", "ocpp2.1", online=False)

    unknown_tariff = await api.post("/api/v1/tariffs/NOPE/push", json={"station_id": "CP21"})
    assert (unknown_tariff.status_code, unknown_tariff.json()["error"]) == (
        404,
        "tariff_not_found",
    )
    await _tariff(api)
    no_version = await _push(api, {"station_id": "CP21", "version": 9})
    assert (no_version.status_code, no_version.json()["error"]) == (
        404,
        "tariff_version_not_found",
    )
    unknown_station = await _push(api, {"station_id": "NOPE"})
    assert (unknown_station.status_code, unknown_station.json()["error"]) == (
        404,
        "station_not_found",
    )
    offline = await _push(api, {"station_id": "OFF21"})
    assert (offline.status_code, offline.json()["error"]) == (409, "station_offline")
    bad_evse = await _push(api, {"station_id": "CP21", "evse_id": -1})
    assert bad_evse.status_code == 422
    analyst = await mint(redis, "analyst", "an-push")
    forbidden = await _push(api, {"station_id": "CP21"}, headers=analyst)
    assert forbidden.status_code == 403

    gateway.answers["SetDefaultTariff"] = ("result", {"status": "TooManyElements"})
    refused = await _push(api, {"station_id": "CP21"})
    assert refused.status_code == 200 and refused.json()["result"]["status"] == "TooManyElements"
    gateway.answers["SetDefaultTariff"] = ("silent", {})
    timeout = await _push(api, {"station_id": "CP21"}, timeout=0.3)
    assert (timeout.status_code, timeout.json()["error"]) == (504, "gateway_timeout")
    assert timeout.json()["command_id"]


async def test_push_async_returns_the_command_id(
    api: httpx.AsyncClient, redis: Redis, gateway: ScriptedGateway
) -> None:
    await _station(redis, "CP21", "ocpp2.1")
    await _tariff(api)
    accepted = await api.post(
        "/api/v1/tariffs/AC-STD/push", json={"station_id": "CP21"}, params={"async": "true"}
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["state"] == "pending"
    href = accepted.json()["href"]
    for _ in range(100):
        polled = (await api.get(href)).json()
        if polled["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert polled["state"] == "completed" and polled["result"] == {"status": "Accepted"}
