"""Id tokens: written through the API, seen at once by the gateway's authorization."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from csms.infra import redis_keys
from csms.infra.redis_decisions import RedisDecisions
from tests.unit.api.api_seed import T0, mint
from tests.unit.api.memory_audit import MemoryAudit

BASE = "/api/v1/id-tokens"
NOW = T0  # 2025-01-31T12:00:00.000Z


def _decisions(redis: Redis) -> RedisDecisions:
    return RedisDecisions(redis, heartbeat_interval_s=300, clock=lambda: NOW)


async def _create(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await api.post(BASE, json={"type": "ISO14443", **body})


async def test_create_is_seen_by_authorization(
    redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit
) -> None:
    resp = await _create(
        api, id_token="04A2B3C4", group_id="FLEET-7", expiry="2025-02-01T00:00:00+01:00"
    )
    assert resp.status_code == 201
    body = resp.json()
    assert body["id_token"] == "04A2B3C4"
    assert (body["type"], body["group_id"], body["status"]) == ("ISO14443", "FLEET-7", "Accepted")
    assert body["expiry"] == "2025-01-31T23:00:00.000Z"  # normalized to UTC
    assert body["created"] == body["updated"]

    info = await _decisions(redis).authorize("04A2B3C4")
    assert (info.status, info.group) == ("Accepted", "FLEET-7")
    assert info.expiry_ms == NOW + 11 * 3_600_000
    assert await redis.zrange(redis_keys.ID_TOKENS, 0, -1) == ["04A2B3C4"]

    topic, key, record = audit.records[-1]
    assert (topic, key, record["action"]) == ("csms.audit", "04A2B3C4", "id_token.create")
    assert (record["id_token"], record["group_id"], record["status"]) == (
        "04A2B3C4",
        "FLEET-7",
        "Accepted",
    )
    assert record["actor"] == "env:CSMS_API_TOKEN"


async def test_expired_and_blocked_tokens_are_refused_by_authorization(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    await _create(api, id_token="OLD", expiry="2025-01-01T00:00:00Z")
    await _create(api, id_token="BAD", status="Blocked")
    await _create(api, id_token="NAIVE", expiry="2025-01-31T12:00:01")  # no offset: UTC
    decisions = _decisions(redis)
    assert (await decisions.authorize("OLD")).status == "Expired"
    assert (await decisions.authorize("BAD")).status == "Blocked"
    naive = await decisions.authorize("NAIVE")
    assert (naive.status, naive.expiry_ms) == ("Accepted", NOW + 1000)


async def test_block(redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    await _create(api, id_token="CARD-1", group_id="G")
    resp = await api.post(f"{BASE}/CARD-1/block")
    assert resp.status_code == 200
    assert (resp.json()["status"], resp.json()["group_id"]) == ("Blocked", "G")
    assert (await _decisions(redis).authorize("CARD-1")).status == "Blocked"
    assert audit.records[-1][2]["action"] == "id_token.block"
    assert (await api.get(f"{BASE}/CARD-1")).json()["status"] == "Blocked"


async def test_update_changes_given_fields_and_null_removes(
    redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit
) -> None:
    created = (
        await _create(api, id_token="EMAID-1", group_id="G1", expiry="2030-01-01T00:00:00Z")
    ).json()
    resp = await api.patch(f"{BASE}/EMAID-1", json={"group_id": "G2", "type": "eMAID"})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["group_id"], body["type"], body["expiry"], body["status"]) == (
        "G2",
        "eMAID",
        "2030-01-01T00:00:00.000Z",
        "Accepted",
    )
    assert body["created"] == created["created"]
    record = audit.records[-1][2]
    assert (record["action"], record["changed"]) == ("id_token.update", ["group_id", "type"])

    cleared = (await api.patch(f"{BASE}/EMAID-1", json={"expiry": None, "group_id": None})).json()
    assert (cleared["expiry"], cleared["group_id"]) == (None, None)
    assert await redis.hgetall(redis_keys.id_token("EMAID-1")) == {
        "status": "Accepted",
        "type": "eMAID",
        "created_ms": str(await redis.hget(redis_keys.id_token("EMAID-1"), "created_ms")),
        "updated_ms": str(await redis.hget(redis_keys.id_token("EMAID-1"), "updated_ms")),
    }
    info = await _decisions(redis).authorize("EMAID-1")
    assert (info.status, info.group, info.expiry_ms) == ("Accepted", None, None)

    unblocked = await api.patch(f"{BASE}/EMAID-1", json={"status": "NoCredit"})
    assert unblocked.json()["status"] == "NoCredit"
    assert (await _decisions(redis).authorize("EMAID-1")).status == "NoCredit"


async def test_unknown_token_is_404(api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    for resp in (
        await api.get(f"{BASE}/NOPE"),
        await api.patch(f"{BASE}/NOPE", json={"status": "Blocked"}),
        await api.post(f"{BASE}/NOPE/block"),
    ):
        assert resp.status_code == 404
        assert resp.json() == {"error": "id_token_not_found", "detail": "no id token 'NOPE'"}
    assert audit.records == []


async def test_duplicate_is_409(api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    assert (await _create(api, id_token="DUP")).status_code == 201
    again = await _create(api, id_token="DUP", status="Blocked")
    assert again.status_code == 409
    assert again.json()["error"] == "id_token_exists"
    assert (await api.get(f"{BASE}/DUP")).json()["status"] == "Accepted"
    assert len(audit.records) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id_token": "A", "type": "Magic"}, "type"),
        ({"id_token": "A", "type": "ISO14443", "status": "Maybe"}, "status"),
        ({"id_token": "A", "type": "ISO14443", "expiry": "next tuesday"}, "expiry"),
        ({"id_token": "has/slash", "type": "ISO14443"}, "id_token"),
        ({"id_token": "has space", "type": "ISO14443"}, "id_token"),
        ({"id_token": "", "type": "ISO14443"}, "id_token"),
        ({"id_token": "A" * 256, "type": "ISO14443"}, "id_token"),
        ({"type": "ISO14443"}, "id_token"),
        ({"id_token": "A", "type": "ISO14443", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_create_is_422_naming_the_field(
    api: httpx.AsyncClient, audit: MemoryAudit, body: dict[str, Any], field: str
) -> None:
    resp = await api.post(BASE, json=body)
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_request"
    assert field in resp.json()["detail"]
    assert audit.records == []


async def test_invalid_update_is_422(api: httpx.AsyncClient) -> None:
    await _create(api, id_token="X1")
    for body in ({"status": "Sometimes"}, {"expiry": "soon"}, {"id_token": "renamed"}):
        resp = await api.patch(f"{BASE}/X1", json=body)
        assert resp.status_code == 422, body


async def test_roles(redis: Redis, anon: httpx.AsyncClient, api: httpx.AsyncClient) -> None:
    await _create(api, id_token="R1")
    analyst = await mint(redis, "analyst")
    assert (await anon.get(f"{BASE}/R1", headers=analyst)).status_code == 200
    assert (await anon.get(BASE, headers=analyst)).status_code == 200
    for method, path in (("POST", f"{BASE}/R1/block"), ("PATCH", f"{BASE}/R1")):
        resp = await anon.request(method, path, headers=analyst, json={"status": "Blocked"})
        assert resp.status_code == 403
    assert (await anon.get(f"{BASE}/R1")).status_code == 401
    assert (await _decisions(redis).authorize("R1")).status == "Accepted"


async def test_list_pagination_and_filters(api: httpx.AsyncClient) -> None:
    for i in range(7):
        await _create(
            api,
            id_token=f"T{i}",
            type="ISO14443" if i % 2 else "eMAID",
            group_id=f"G{i % 3}",
            status="Blocked" if i in (2, 5) else "Accepted",
        )
    first = (await api.get(BASE, params={"limit": 3})).json()
    assert [t["id_token"] for t in first["items"]] == ["T0", "T1", "T2"]
    assert (first["total"], first["next_offset"], first["offset"]) == (7, 3, 0)
    last = (await api.get(BASE, params={"limit": 3, "offset": 6})).json()
    assert [t["id_token"] for t in last["items"]] == ["T6"]
    assert last["next_offset"] is None

    blocked = (await api.get(BASE, params={"status": "Blocked"})).json()
    assert [t["id_token"] for t in blocked["items"]] == ["T2", "T5"]
    assert blocked["total"] is None
    group = (await api.get(BASE, params={"group_id": "G1", "type": "ISO14443"})).json()
    assert [t["id_token"] for t in group["items"]] == ["T1"]
    paged = (await api.get(BASE, params={"type": "eMAID", "limit": 2, "offset": 1})).json()
    assert [t["id_token"] for t in paged["items"]] == ["T2", "T4"]
    assert paged["next_offset"] == 3

    for params in ({"limit": 0}, {"offset": -1}, {"status": "Nope"}, {"type": "Nope"}):
        assert (await api.get(BASE, params=params)).status_code == 422, params
