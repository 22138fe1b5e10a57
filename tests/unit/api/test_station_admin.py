"""Station registration and credentials through the API: admin only, hashes never returned,
every change audited, and the gateway's admission sees it at once."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from csms.infra import redis_keys
from csms.infra.redis_decisions import RedisDecisions
from csms.infra.station_registry import StationRegistry
from tests.unit.api.api_seed import T0, mint, put_station, station_fields
from tests.unit.api.memory_audit import MemoryAudit

BASE = "/api/v1/stations"
PASSWORD = "correct-horse-battery-staple"


def _no_secret(body: Any) -> None:
    text = orjson.dumps(body).decode()
    assert PASSWORD not in text
    assert "sha256$" not in text
    assert "password_hash" not in text


async def test_register_with_password(
    redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit
) -> None:
    resp = await api.post(BASE, json={"id": "CP-1", "status": "Pending", "password": PASSWORD})
    assert resp.status_code == 201
    body = resp.json()
    assert {k: body[k] for k in ("id", "status", "has_password")} == {
        "id": "CP-1",
        "status": "Pending",
        "has_password": True,
    }
    assert body["created"].endswith("Z") and body["updated"].endswith("Z")
    _no_secret(body)

    registration = await StationRegistry(redis).get("CP-1")
    assert registration is not None and registration.status == "Pending"
    assert registration.password_matches(PASSWORD)
    boot = await RedisDecisions(redis, heartbeat_interval_s=300).boot("CP-1")
    assert boot.status == "Pending"
    assert await redis.sismember(redis_keys.REGISTERED_STATIONS, "CP-1")

    topic, key, record = audit.records[-1]
    assert (topic, key, record["action"]) == ("csms.audit", "CP-1", "station.register")
    assert (record["station"], record["status"], record["password_set"]) == (
        "CP-1",
        "Pending",
        True,
    )
    _no_secret(audit.records)


async def test_registered_station_is_listed_and_shown_before_it_connects(
    api: httpx.AsyncClient,
) -> None:
    await api.post(BASE, json={"id": "CP-2"})
    listed = (await api.get(BASE)).json()
    assert listed["items"] == [
        {
            "id": "CP-2",
            "protocol": None,
            "online": False,
            "last_seen": None,
            "vendor": None,
            "model": None,
            "firmware": None,
            "registration_status": "Accepted",
        }
    ]
    assert listed["total"] == 1
    detail = (await api.get(f"{BASE}/CP-2")).json()
    assert (detail["registration_status"], detail["has_password"]) == ("Accepted", False)
    assert detail["evses"] == []


async def test_detail_of_a_seen_station_carries_its_registration(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    await put_station(redis, "CP-3", station_fields("ocpp1.6", online=True, last_seen=T0))
    plain = (await api.get(f"{BASE}/CP-3")).json()
    assert (plain["registration_status"], plain["has_password"]) == (None, False)
    assert (await api.put(f"{BASE}/CP-3/password", json={"password": PASSWORD})).status_code == 200
    detail = (await api.get(f"{BASE}/CP-3")).json()
    assert (detail["registration_status"], detail["has_password"]) == ("Accepted", True)
    assert detail["protocol"] == "ocpp1.6"
    _no_secret(detail)


async def test_set_password(redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    await api.post(BASE, json={"id": "CP-4", "status": "Rejected"})
    resp = await api.put(f"{BASE}/CP-4/password", json={"password": PASSWORD})
    assert resp.status_code == 200
    assert (resp.json()["has_password"], resp.json()["status"]) == (True, "Rejected")
    _no_secret(resp.json())
    registration = await StationRegistry(redis).get("CP-4")
    assert registration is not None and registration.password_matches(PASSWORD)
    assert not registration.password_matches(PASSWORD + "x")
    record = audit.records[-1][2]
    assert (record["action"], record["station"]) == ("station.set_password", "CP-4")
    _no_secret(audit.records)


async def test_set_status(redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    await api.post(BASE, json={"id": "CP-5", "status": "Pending"})
    resp = await api.patch(f"{BASE}/CP-5", json={"status": "Accepted"})
    assert resp.status_code == 200
    assert resp.json()["status"] == "Accepted"
    boot = await RedisDecisions(redis, heartbeat_interval_s=300).boot("CP-5")
    assert (boot.status, boot.interval_s) == ("Accepted", 300)
    record = audit.records[-1][2]
    assert (record["action"], record["status"], record["previous_status"]) == (
        "station.set_status",
        "Accepted",
        "Pending",
    )


async def test_unknown_station_is_404(api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    for resp in (
        await api.put(f"{BASE}/CP-404/password", json={"password": PASSWORD}),
        await api.patch(f"{BASE}/CP-404", json={"status": "Accepted"}),
    ):
        assert resp.status_code == 404
        assert resp.json() == {
            "error": "station_not_found",
            "detail": "no station with id 'CP-404'",
        }
    assert audit.records == []


async def test_duplicate_registration_is_409(api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    assert (await api.post(BASE, json={"id": "CP-6"})).status_code == 201
    again = await api.post(BASE, json={"id": "CP-6", "status": "Rejected"})
    assert again.status_code == 409
    assert again.json()["error"] == "station_exists"
    assert (await api.get(f"{BASE}/CP-6")).json()["registration_status"] == "Accepted"
    assert len(audit.records) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "CP-7", "password": "too-short"}, "password"),
        ({"id": "CP-7", "password": "x" * 41}, "password"),
        ({"id": "CP-7", "status": "Maybe"}, "status"),
        ({"id": "has/slash"}, "id"),
        ({"id": "x" * 49}, "id"),
        ({"id": ""}, "id"),
        ({"id": "CP-7", "password_hash": "sha256$00$00"}, "password_hash"),
    ],
)
async def test_invalid_registration_is_422(
    redis: Redis, api: httpx.AsyncClient, audit: MemoryAudit, body: dict[str, Any], field: str
) -> None:
    resp = await api.post(BASE, json=body)
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_request"
    assert field in resp.json()["detail"]
    assert "too-short" not in resp.text  # the password is not echoed
    assert await StationRegistry(redis).get("CP-7") is None
    assert audit.records == []


async def test_dot_ids_are_refused_like_the_gateway_does(api: httpx.AsyncClient) -> None:
    resp = await api.post(BASE, json={"id": ".."})
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_station_id"


async def test_invalid_password_and_status_updates_are_422(api: httpx.AsyncClient) -> None:
    await api.post(BASE, json={"id": "CP-8"})
    for method, path, body in (
        ("PUT", f"{BASE}/CP-8/password", {"password": "short"}),
        ("PUT", f"{BASE}/CP-8/password", {}),
        ("PATCH", f"{BASE}/CP-8", {"status": "Deleted"}),
        ("PATCH", f"{BASE}/CP-8", {}),
    ):
        resp = await api.request(method, path, json=body)
        assert resp.status_code == 422, (method, body)


async def test_only_admins_manage_stations(
    redis: Redis, api: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    await api.post(BASE, json={"id": "CP-9"})
    analyst, operator = await mint(redis, "analyst"), await mint(redis, "operator")
    assert (await anon.get(BASE, headers=analyst)).status_code == 200
    assert (await anon.get(f"{BASE}/CP-9", headers=analyst)).status_code == 200
    for headers in (analyst, operator):
        for method, path, body in (
            ("POST", BASE, {"id": "CP-10"}),
            ("PUT", f"{BASE}/CP-9/password", {"password": PASSWORD}),
            ("PATCH", f"{BASE}/CP-9", {"status": "Rejected"}),
        ):
            resp = await anon.request(method, path, headers=headers, json=body)
            assert resp.status_code == 403, (method, path)
            assert resp.json()["error"] == "forbidden"
    registration = await StationRegistry(redis).get("CP-9")
    assert registration is not None
    assert (registration.status, registration.has_password) == ("Accepted", False)
    assert await StationRegistry(redis).get("CP-10") is None


async def test_list_filters(redis: Redis, api: httpx.AsyncClient) -> None:
    for i in range(6):
        fields = station_fields(
            "ocpp1.6" if i % 2 else "ocpp2.0.1",
            online=i < 3,
            last_seen=T0 + i,
            vendor="ACME" if i < 4 else "Other",
            model=f"M{i % 3}",
        )
        await put_station(redis, f"CP-{i}", fields)
    await api.post(BASE, json={"id": "CP-1", "status": "Rejected"})
    await api.post(BASE, json={"id": "CP-4", "status": "Rejected"})
    await api.post(BASE, json={"id": "CP-X", "status": "Pending"})

    async def ids(**params: Any) -> list[str]:
        body = (await api.get(BASE, params=params)).json()
        return [s["id"] for s in body["items"]]

    assert await ids() == ["CP-0", "CP-1", "CP-2", "CP-3", "CP-4", "CP-5", "CP-X"]
    assert await ids(registration_status="Rejected") == ["CP-1", "CP-4"]
    assert await ids(registration_status="Pending") == ["CP-X"]
    assert await ids(vendor="Other") == ["CP-4", "CP-5"]
    assert await ids(model="M0", vendor="ACME") == ["CP-0", "CP-3"]
    assert await ids(protocol="ocpp1.6", online=True) == ["CP-1"]
    assert await ids(vendor="ACME", limit=2, offset=1) == ["CP-1", "CP-2"]
    filtered = (await api.get(BASE, params={"vendor": "ACME", "limit": 2})).json()
    assert (filtered["total"], filtered["next_offset"]) == (None, 2)
    rest = (
        await api.get(BASE, params={"vendor": "ACME", "cursor": filtered["next_cursor"]})
    ).json()
    assert [s["id"] for s in rest["items"]] == ["CP-2", "CP-3"]
    bad = await api.get(BASE, params={"registration_status": "Maybe"})
    assert bad.status_code == 422
