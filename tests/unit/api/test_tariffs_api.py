"""Tariffs, tariff assignments and bills through the API, over a real Redis (DB 1, flushed)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.domain.billing import Accrual, finish
from csms.domain.tariffs import parse_tariff
from csms.infra import redis_keys
from csms.readmodels.tariffs import RedisTariffs as TariffStore
from tests.unit.api.api_seed import T0, Clock, mint
from tests.unit.api.memory_audit import MemoryAudit
from tests.unit.redis_db import flushed_redis

REDIS_URL = os.environ.get("CSMS_TEST_TARIFF_REDIS_URL", "redis://127.0.0.1:6379/1")
HOUR = 3_600_000
TARIFFS = "/api/v1/tariffs"
ASSIGN = "/api/v1/tariff-assignments"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """Overrides the API fixtures' Redis: this module's own DB."""
    async with flushed_redis(REDIS_URL) as client:
        yield client


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    app.state.clock = clock = Clock()
    return clock


def _tariff(tariff_id: str = "STD", **extra: Any) -> dict[str, Any]:
    return {
        "id": tariff_id,
        "currency": "EUR",
        "energy_per_kwh": "0.30",
        "tax_rate": 0.19,
        "timezone": "Europe/Berlin",
        "periods": [
            {"name": "peak", "days": ["Monday", 5], "start": "17:00", "end": "20:00",
             "energy_per_kwh": 0.45},
        ],
        **extra,
    }  # fmt: skip


async def test_create_get_and_list(
    api: httpx.AsyncClient, clock: Clock, audit: MemoryAudit
) -> None:
    resp = await api.post(TARIFFS, json=_tariff(session_fee=1, min_price="2.00"))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["id"], body["version"], body["valid_from_ms"]) == ("STD", 1, T0)
    assert body["valid_from"] == "2025-01-31T12:00:00.000Z"
    # Money is strings, JSON numbers converted exactly.
    assert (body["energy_per_kwh"], body["tax_rate"], body["session_fee"]) == ("0.30", "0.19", "1")
    assert (body["min_price"], body["max_price"]) == ("2.00", None)
    assert body["periods"] == [
        {
            "name": "peak",
            "days": ["Monday", "Friday"],
            "start": "17:00",
            "end": "20:00",
            "energy_per_kwh": "0.45",
            "charging_per_hour": None,
            "idle_per_hour": None,
        }
    ]
    topic, key, record = audit.records[-1]
    assert (topic, key, record["action"], record["version"]) == (
        "csms.audit",
        "STD",
        "tariff.create",
        1,
    )

    got = (await api.get(f"{TARIFFS}/STD")).json()
    assert got["versions"] == [
        {"version": 1, "valid_from_ms": T0, "valid_from": "2025-01-31T12:00:00.000Z"}
    ]
    assert {k: v for k, v in got.items() if k != "versions"} == body
    await api.post(TARIFFS, json={"id": "A-FIRST", "currency": "JPY", "energy_per_kwh": 40})
    listed = (await api.get(TARIFFS)).json()["items"]
    assert [(t["id"], t["currency"]) for t in listed] == [("A-FIRST", "JPY"), ("STD", "EUR")]


async def test_create_conflicts_and_bad_input(api: httpx.AsyncClient, clock: Clock) -> None:
    assert (await api.post(TARIFFS, json=_tariff())).status_code == 201
    resp = await api.post(TARIFFS, json=_tariff(energy_per_kwh="1"))
    assert (resp.status_code, resp.json()["error"]) == (409, "tariff_exists")

    bad = {
        "currency": ("euro", "currency"),
        "tax_rate": ("1.5", "tax_rate"),
        "energy_per_kwh": ("-1", "energy_per_kwh"),
        "timezone": ("Mars/Olympus", "timezone"),
        "periods": ([{"name": "x", "start": "25:00", "energy_per_kwh": 1}], "periods[0].start"),
    }
    for field, (value, message) in bad.items():
        resp = await api.post(TARIFFS, json=_tariff("NEW", **{field: value}))
        assert resp.status_code == 422, (field, resp.text)
        assert resp.json()["error"] == "invalid_tariff"
        assert resp.json()["detail"].startswith(message)
    for body in ({"id": "NEW"}, {**_tariff("NEW"), "colour": "red"}, _tariff("NEW", tax_rate=True)):
        resp = await api.post(TARIFFS, json=body)
        assert (resp.status_code, resp.json()["error"]) == (422, "invalid_request")
    resp = await api.post(TARIFFS, json=_tariff("resolve"))
    assert resp.status_code == 422
    assert [t["id"] for t in (await api.get(TARIFFS)).json()["items"]] == ["STD"]


async def test_update_makes_versions(
    api: httpx.AsyncClient, clock: Clock, audit: MemoryAudit
) -> None:
    await api.post(TARIFFS, json=_tariff())
    clock.now = T0 + HOUR
    v1 = (await api.get(f"{TARIFFS}/STD/versions/1")).json()
    # A GET put back (with its version field) is a valid body.
    edited = {k: v for k, v in v1.items() if k != "valid_from"}
    edited["energy_per_kwh"] = "0.35"
    resp = await api.put(f"{TARIFFS}/STD", json=edited)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["version"], resp.json()["valid_from_ms"]) == (2, T0 + HOUR)
    assert audit.records[-1][2]["action"] == "tariff.update"
    # Scheduled for later, body without an id.
    later = {**_tariff(energy_per_kwh="0.40", valid_from_ms=T0 + 5 * HOUR)}
    del later["id"]
    v3 = (await api.put(f"{TARIFFS}/STD", json=later)).json()
    assert (v3["version"], v3["valid_from_ms"]) == (3, T0 + 5 * HOUR)

    detail = (await api.get(f"{TARIFFS}/STD")).json()
    assert (detail["version"], detail["energy_per_kwh"]) == (3, "0.40")
    assert [(v["version"], v["valid_from_ms"]) for v in detail["versions"]] == [
        (1, T0),
        (2, T0 + HOUR),
        (3, T0 + 5 * HOUR),
    ]
    assert (await api.get(f"{TARIFFS}/STD/versions/1")).json() == v1  # immutable

    resp = await api.put(f"{TARIFFS}/OTHER", json=_tariff("OTHER"))
    assert (resp.status_code, resp.json()["error"]) == (404, "tariff_not_found")
    resp = await api.put(f"{TARIFFS}/STD", json=_tariff("OTHER"))
    assert (resp.status_code, resp.json()["error"]) == (422, "invalid_tariff")
    resp = await api.get(f"{TARIFFS}/STD/versions/9")
    assert (resp.status_code, resp.json()["error"]) == (404, "tariff_version_not_found")
    assert (await api.get(f"{TARIFFS}/NOPE")).status_code == 404


async def test_assign_and_resolve(api: httpx.AsyncClient, clock: Clock, audit: MemoryAudit) -> None:
    for tid in ("DEF", "FLEET-RATE"):
        await api.post(TARIFFS, json=_tariff(tid))
    resolve = f"{TARIFFS}/resolve"
    resp = await api.get(resolve, params={"station": "CP-1", "evse": 1})
    assert (resp.status_code, resp.json()["error"]) == (404, "tariff_not_found")

    resp = await api.put(ASSIGN, json={"scope": "default", "tariff_id": "DEF"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "key": "default",
        "history": [
            {"valid_from_ms": T0, "valid_from": "2025-01-31T12:00:00.000Z", "tariff_id": "DEF"}
        ],
    }
    record = audit.records[-1][2]
    assert (record["action"], record["assignment"], record["tariff_id"]) == (
        "tariff.assign",
        "default",
        "DEF",
    )
    group = {"scope": "group", "group": "FLEET", "tariff_id": "FLEET-RATE"}
    resp = await api.put(ASSIGN, json=group)
    assert resp.json()["key"] == "group:FLEET"
    # Scheduled: the group loses its rate in an hour, so its sessions fall back to the default.
    resp = await api.put(ASSIGN, json={**group, "tariff_id": None, "valid_from_ms": T0 + HOUR})
    assert [e["tariff_id"] for e in resp.json()["history"]] == ["FLEET-RATE", None]

    params: dict[str, str | int] = {"station": "CP-1", "evse": 1, "group": "FLEET"}
    before = (await api.get(resolve, params={**params, "at_ms": T0 + HOUR - 1})).json()
    assert (before["assignment"], before["tariff"]["id"]) == ("group:FLEET", "FLEET-RATE")
    after = (await api.get(resolve, params={**params, "at_ms": T0 + HOUR})).json()
    assert (after["assignment"], after["tariff"]["id"]) == ("default", "DEF")
    assert after["at_ms"] == T0 + HOUR
    now = (await api.get(resolve, params=params)).json()  # at_ms defaults to now
    assert (now["at_ms"], now["tariff"]["id"]) == (T0, "FLEET-RATE")
    other = (await api.get(resolve, params={"station": "CP-1", "group": "OTHER"})).json()
    assert (other["assignment"], other["tariff"]["id"]) == ("default", "DEF")

    items = (await api.get(ASSIGN)).json()["items"]
    assert [(i["key"], [e["tariff_id"] for e in i["history"]]) for i in items] == [
        ("default", ["DEF"]),
        ("group:FLEET", ["FLEET-RATE", None]),
    ]
    # Unassign, unknown tariff, incomplete scope.
    resp = await api.put(ASSIGN, json={"scope": "default", "tariff_id": None})
    assert [e["tariff_id"] for e in resp.json()["history"]] == ["DEF", None]
    resp = await api.put(ASSIGN, json={"scope": "default", "tariff_id": "NOPE"})
    assert (resp.status_code, resp.json()["error"]) == (404, "tariff_not_found")
    resp = await api.put(ASSIGN, json={"scope": "evse", "station": "CP-1", "tariff_id": "DEF"})
    assert (resp.status_code, resp.json()["error"]) == (422, "invalid_assignment")
    resp = await api.put(ASSIGN, json={"scope": "planet", "tariff_id": "DEF"})
    assert (resp.status_code, resp.json()["error"]) == (422, "invalid_request")


async def test_roles(redis: Redis, anon: httpx.AsyncClient, clock: Clock) -> None:
    operator = await mint(redis, "operator")
    analyst = await mint(redis, "analyst")
    assert (await anon.get(TARIFFS)).status_code == 401
    resp = await anon.post(TARIFFS, json=_tariff(), headers=analyst)
    assert resp.status_code == 403
    assert (await anon.post(TARIFFS, json=_tariff(), headers=operator)).status_code == 201
    assert (await anon.get(f"{TARIFFS}/STD", headers=analyst)).status_code == 200
    assignment = {"scope": "default", "tariff_id": "STD"}
    assert (await anon.put(ASSIGN, json=assignment, headers=analyst)).status_code == 403
    assert (await anon.put(ASSIGN, json=assignment, headers=operator)).status_code == 200
    assert (await anon.get(ASSIGN, headers=analyst)).status_code == 200


async def test_bill(redis: Redis, api: httpx.AsyncClient) -> None:
    url = "/api/v1/transactions/CP-1/tx-9/bill"
    resp = await api.get(url)
    assert (resp.status_code, resp.json()["error"]) == (404, "bill_not_found")

    tariff = parse_tariff(_tariff(session_fee="0.50"))
    acc = Accrual(started_ms=T0, at_ms=T0 + HOUR)
    acc.add("energy", "base", Decimal("0.30"), Decimal("10"))  # 10 kWh
    bill = finish(tariff, acc, final=True)
    bill.update(
        revision=3,
        station="CP-1",
        transaction_id="tx-9",
        evse=1,
        id_token="04A2",
        ended_ms=T0 + HOUR,
        computed_ms=T0 + HOUR + 5,
    )
    state = {"bill": bill, "tariff": tariff.to_dict(), "readings": []}
    await redis.set(redis_keys.bill("CP-1/tx-9"), orjson.dumps(state))
    resp = await api.get(url)
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert (got["state"], got["revision"], got["currency"]) == ("final", 3, "EUR")
    # 3.00 energy + 0.50 fee = 3.50; 19 % tax = 0.665 -> 0.67 (half up)
    assert (got["subtotal"], got["tax"], got["total"]) == ("3.50", "0.67", "4.17")
    assert [(i["component"], i["unit"], i["amount"]) for i in got["items"]] == [
        ("energy", "kWh", "3.00"),
        ("session_fee", "session", "0.50"),
    ]
    assert got["items"] == bill["items"]
    assert (got["ended_ms"], got["id_token"], got["evse"]) == (T0 + HOUR, "04A2", 1)
    assert "readings" not in got
    assert (await api.get("/api/v1/transactions/CP-1/other/bill")).status_code == 404


async def test_running_bill_takes_its_identity_from_the_state(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    tariff = parse_tariff(_tariff())
    acc = Accrual(started_ms=T0, at_ms=T0 + 60_000)
    acc.add("energy", "base", Decimal("0.30"), Decimal("0.5"))
    bill = {**finish(tariff, acc, final=False), "revision": 0}
    state = {"bill": bill, "station": "CP-2", "evse": 2, "id_token": "CARD", "revision": 0}
    await redis.set(redis_keys.bill("CP-2/77"), orjson.dumps(state))
    got = (await api.get("/api/v1/transactions/CP-2/77/bill")).json()
    assert (got["state"], got["revision"], got["priced_until_ms"]) == ("running", 0, T0 + 60_000)
    assert (got["station"], got["transaction_id"], got["evse"], got["id_token"]) == (
        "CP-2",
        "77",
        2,
        "CARD",
    )
    assert (got["subtotal"], got["total"]) == ("0.15", "0.18")  # tax 0.0285 -> 0.03
    # A transaction the processor saw but could not price (no tariff assigned): no bill.
    await redis.set(redis_keys.bill("CP-2/78"), orjson.dumps({"station": "CP-2", "revision": 0}))
    resp = await api.get("/api/v1/transactions/CP-2/78/bill")
    assert (resp.status_code, resp.json()["error"]) == (404, "bill_not_found")


async def test_store_reads_what_the_api_wrote(
    redis: Redis, api: httpx.AsyncClient, clock: Clock
) -> None:
    """The billing's side of the contract: TariffStore.resolve sees the API's writes."""
    await api.post(TARIFFS, json=_tariff())
    await api.put(ASSIGN, json={"scope": "station", "station": "CP-1", "tariff_id": "STD"})
    tariff = await TariffStore(redis).resolve("CP-1", 2, None, T0 + 1)
    assert tariff is not None
    assert (tariff.id, tariff.version, tariff.periods[0].name) == ("STD", 1, "peak")
