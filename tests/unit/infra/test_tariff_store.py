"""TariffStore over a real Redis (DB 1, flushed), with and without decode_responses."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from csms.domain.tariffs import TariffError
from csms.infra import redis_keys
from csms.readmodels.tariffs import RedisTariffs as TariffStore
from csms.readmodels.tariffs import TariffExists, TariffNotFound
from csms.text import as_text
from tests.unit.redis_db import flushed_redis

REDIS_URL = os.environ.get("CSMS_TEST_TARIFF_REDIS_URL", "redis://127.0.0.1:6379/1")
T0 = 1_738_324_800_000  # 2025-01-31T12:00:00.000Z
HOUR = 3_600_000


def _body(tariff_id: str = "STD", **extra: Any) -> dict[str, Any]:
    return {"id": tariff_id, "currency": "EUR", "energy_per_kwh": "0.30", **extra}


@pytest.fixture(params=[True, False], ids=["decoded", "bytes"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[TariffStore]:
    async with flushed_redis(REDIS_URL) as decoded:
        if request.param:
            yield TariffStore(decoded)
            return
        raw: Redis = Redis.from_url(REDIS_URL, decode_responses=False)
        try:
            yield TariffStore(raw)
        finally:
            await raw.aclose()


async def test_create_stores_version_one_valid_from_now(store: TariffStore) -> None:
    tariff = await store.create(_body(energy_per_kwh=0.35, valid_from_ms=T0 - HOUR), T0)
    assert (tariff.id, tariff.version, tariff.valid_from_ms) == ("STD", 1, T0)  # never the past
    assert tariff.energy_per_kwh == Decimal("0.35")  # a JSON number, without float error
    assert await store.get("STD") == tariff
    assert await store.get("STD", 1) == tariff
    assert await store.get("STD", 2) is None
    assert await store.get("NOPE") is None
    later = await store.create(_body("LATER", valid_from_ms=T0 + HOUR), T0)
    assert later.valid_from_ms == T0 + HOUR
    assert [t.id for t in await store.list()] == ["LATER", "STD"]


async def test_create_refuses_a_taken_id_and_bad_input(store: TariffStore) -> None:
    await store.create(_body(), T0)
    with pytest.raises(TariffExists):
        await store.create(_body(energy_per_kwh="9"), T0)
    assert (await store.get("STD")) is not None
    assert (await store.get("STD")).energy_per_kwh == Decimal("0.30")  # type: ignore[union-attr]
    with pytest.raises(TariffError, match="currency"):
        await store.create({"id": "X", "currency": "euro"}, T0)
    assert [t.id for t in await store.list()] == ["STD"]


async def test_update_appends_immutable_versions(store: TariffStore) -> None:
    v1 = await store.create(_body(), T0)
    v2 = await store.update("STD", _body("ignored", energy_per_kwh="0.40"), T0 + HOUR)
    assert (v2.id, v2.version, v2.valid_from_ms, v2.energy_per_kwh) == (
        "STD",
        2,
        T0 + HOUR,
        Decimal("0.40"),
    )
    assert await store.versions("STD") == [v1, v2]
    assert await store.get("STD") == v2
    assert await store.get("STD", 1) == v1
    assert [t.version for t in await store.list()] == [2]
    with pytest.raises(TariffNotFound):
        await store.update("NOPE", _body("NOPE"), T0)
    assert await store.versions("NOPE") == []


async def test_concurrent_updates_get_distinct_versions(store: TariffStore) -> None:
    await store.create(_body(), T0)
    results = await asyncio.gather(
        *(store.update("STD", _body(energy_per_kwh=f"0.{40 + i}"), T0 + i) for i in range(8))
    )
    assert sorted(t.version for t in results) == list(range(2, 10))
    stored = await store.versions("STD")
    assert [t.version for t in stored] == list(range(1, 10))
    # Each stored version is the one its writer was told about: nothing overwritten.
    assert {t.version: t.energy_per_kwh for t in results} == {
        t.version: t.energy_per_kwh for t in stored[1:]
    }


async def test_assign_validates_scope_and_tariff(store: TariffStore) -> None:
    await store.create(_body(), T0)
    with pytest.raises(TariffNotFound):
        await store.assign("default", tariff_id="NOPE", now_ms=T0)
    with pytest.raises(TariffError, match="scope"):
        await store.assign("evse", station="CP-1", tariff_id="STD", now_ms=T0)  # evse 0
    with pytest.raises(TariffError, match="scope"):
        await store.assign("planet", tariff_id="STD", now_ms=T0)
    assert await store.assignments() == {}
    result = await store.assign("evse", station="CP-1", evse=2, tariff_id="STD", now_ms=T0)
    assert result == {"key": "evse:CP-1:2", "history": [[T0, "STD"]]}
    # A later-valid entry, then one asked for the past (taken as now): kept in time order.
    await store.assign(
        "evse", station="CP-1", evse=2, tariff_id=None, now_ms=T0, valid_from_ms=T0 + 2 * HOUR
    )
    result = await store.assign(
        "evse", station="CP-1", evse=2, tariff_id="STD", now_ms=T0 + HOUR, valid_from_ms=5
    )
    history = [[T0, "STD"], [T0 + HOUR, "STD"], [T0 + 2 * HOUR, None]]
    assert result["history"] == history
    assert await store.assignments() == {"evse:CP-1:2": history}


async def test_concurrent_assignments_are_all_kept(store: TariffStore) -> None:
    await store.create(_body(), T0)
    await asyncio.gather(
        *(store.assign("station", station="CP-1", tariff_id="STD", now_ms=T0 + i) for i in range(6))
    )
    history = (await store.assignments())["station:CP-1"]
    assert history == [[T0 + i, "STD"] for i in range(6)]


async def _priced(store: TariffStore, at_ms: int, group: str | None = "FLEET") -> tuple[str, int]:
    tariff = await store.resolve("CP-1", 2, group, at_ms)
    assert tariff is not None
    return tariff.id, tariff.version


async def test_resolve_precedence_and_version_at_start(store: TariffStore) -> None:
    for tid in ("DEF", "ST", "EV", "GRP"):
        await store.create(_body(tid), T0)
    assert await store.resolve("CP-1", 2, "FLEET", T0) is None  # nothing assigned
    await store.assign("default", tariff_id="DEF", now_ms=T0)
    assert await _priced(store, T0) == ("DEF", 1)
    await store.assign("station", station="CP-1", tariff_id="ST", now_ms=T0)
    assert await _priced(store, T0) == ("ST", 1)
    await store.assign("evse", station="CP-1", evse=2, tariff_id="EV", now_ms=T0)
    assert await _priced(store, T0) == ("EV", 1)
    assert (await store.resolve("CP-1", 1, None, T0)).id == "ST"  # type: ignore[union-attr]
    assert (await store.resolve("CP-9", 1, None, T0)).id == "DEF"  # type: ignore[union-attr]
    await store.assign("group", group="FLEET", tariff_id="GRP", now_ms=T0)
    assert await _priced(store, T0) == ("GRP", 1)
    assert await _priced(store, T0, group=None) == ("EV", 1)
    assert await _priced(store, T0, group="OTHER") == ("EV", 1)
    assert await store.resolve_with_key("CP-1", 2, "FLEET", T0) == (
        "group:FLEET",
        await store.get("GRP", 1),
    )

    # The price of a session is the version valid when it started, even after an edit.
    await store.update("GRP", _body("GRP", energy_per_kwh="0.50"), T0 + HOUR)
    assert await _priced(store, T0 + HOUR - 1) == ("GRP", 1)
    assert await _priced(store, T0 + HOUR) == ("GRP", 2)
    # A session before the first version (an old offline one) gets the first.
    assert await _priced(store, T0 - 10 * HOUR) == ("GRP", 1)

    # Unassigning the group from later on falls back to the EVSE's tariff from then.
    await store.assign("group", group="FLEET", tariff_id=None, now_ms=T0 + 2 * HOUR)
    assert await _priced(store, T0 + 2 * HOUR - 1) == ("GRP", 2)
    assert await _priced(store, T0 + 2 * HOUR) == ("EV", 1)


async def test_layout_is_the_key_contract(store: TariffStore) -> None:
    """What the store writes is what redis_keys documents: the billing may read it raw."""
    await store.create(_body(), T0)
    redis = store._redis
    assert [as_text(m) for m in await redis.smembers(redis_keys.TARIFFS)] == ["STD"]
    raw = await redis.hget(redis_keys.tariff("STD"), "1")
    assert raw is not None
    assert orjson.loads(raw)["energy_per_kwh"] == "0.30"  # money as a string
