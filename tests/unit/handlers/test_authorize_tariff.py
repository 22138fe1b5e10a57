"""2.1 AuthorizeResponse.tariff: the driver's group tariff, checked against the real 2.1 schema,
and RedisDecisions.group_tariff over a real Redis (DB 6; keys unique to each test, removed
after, so it never flushes the database test_redis_decisions uses)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from csms.domain.tariff_ocpp21 import tariff_type
from csms.domain.tariffs import parse_tariff
from csms.handlers import CallContext, Decisions, TokenInfo, routes
from csms.infra import redis_keys
from csms.infra.redis_client import make_redis
from csms.infra.redis_decisions import RedisDecisions, assigned_at
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from csms.readmodels.tariffs import RedisTariffs as TariffStore
from csms.settings import Settings
from tests.unit.handlers.test_answers import TokenDecisions

REDIS_URL = "redis://127.0.0.1:6379/6"
NOW = 1_764_000_000_000
HOUR = 3_600_000
FLEET = "FLEET-7"
TARIFF = parse_tariff(
    {
        "id": "FLEET-7-RATE",
        "currency": "EUR",
        "energy_per_kwh": "0.25",
        "session_fee": "0.50",
        "tax_rate": "0.19",
        "description": "Fleet price",
        "periods": [{"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.2"}],
        "version": 3,
        "valid_from_ms": NOW - HOUR,
    }
)
REQUEST = {"idToken": {"idToken": "CARD-1", "type": "ISO14443"}}


class GroupDecisions(TokenDecisions):
    """One token (status, group) and the tariffs of groups; counts the tariff look-ups."""

    def __init__(
        self,
        info: TokenInfo,
        tariffs: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        failing: bool = False,
    ) -> None:
        super().__init__(info)
        self.tariffs = dict(tariffs or {})
        self.failing = failing
        self.lookups: list[str] = []

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        self.lookups.append(group)
        if self.failing:
            raise ConnectionError("redis down")
        return self.tariffs.get(group)


async def _authorize(version: OcppVersion, decisions: Decisions) -> dict[str, Any]:
    ctx = CallContext("CP-21", version, REQUEST, NOW, decisions)
    answer = await routes(version)["Authorize"](ctx)
    validator(version, "Authorize", response=True)(answer)  # the real response schema
    return answer


async def test_a_group_tariff_rides_on_the_2_1_answer() -> None:
    decisions = GroupDecisions(TokenInfo("Accepted", group=FLEET), {FLEET: TARIFF.to_dict()})
    answer = await _authorize(OcppVersion.V21, decisions)
    assert answer["tariff"] == tariff_type(TARIFF)
    assert answer["tariff"]["tariffId"] == "FLEET-7-RATE"
    assert answer["tariff"]["energy"]["prices"][-1] == {"priceKwh": 0.25}
    assert answer["idTokenInfo"] == {
        "status": "Accepted",
        "groupIdToken": {"idToken": FLEET, "type": "Central"},
    }
    assert decisions.lookups == [FLEET]


async def test_2_0_1_never_carries_a_tariff() -> None:
    decisions = GroupDecisions(TokenInfo("Accepted", group=FLEET), {FLEET: TARIFF.to_dict()})
    answer = await _authorize(OcppVersion.V201, decisions)
    assert "tariff" not in answer and decisions.lookups == []


@pytest.mark.parametrize(
    ("info", "looked_up"),
    [
        (TokenInfo("Accepted"), []),  # no group: nothing to look up
        (TokenInfo("Accepted", group="OTHER"), ["OTHER"]),  # a group without a tariff
        (TokenInfo("Blocked", group=FLEET), []),  # refused: it will not charge
    ],
)
async def test_no_tariff_without_an_accepted_group_that_has_one(
    info: TokenInfo, looked_up: list[str]
) -> None:
    decisions = GroupDecisions(info, {FLEET: TARIFF.to_dict()})
    answer = await _authorize(OcppVersion.V21, decisions)
    assert "tariff" not in answer
    assert answer["idTokenInfo"]["status"] == info.status
    assert decisions.lookups == looked_up


@pytest.mark.parametrize(
    ("tariffs", "failing"),
    [
        ({}, True),  # the look-up raises
        ({FLEET: {"id": "X", "currency": "euro"}}, False),  # not a valid tariff
        ({FLEET: {**TARIFF.to_dict(), "id": "T" * 61}}, False),  # tariffId over 60
    ],
)
async def test_a_failing_tariff_is_left_out_never_the_answer(
    tariffs: dict[str, dict[str, Any]], failing: bool, caplog: pytest.LogCaptureFixture
) -> None:
    decisions = GroupDecisions(TokenInfo("Accepted", group=FLEET), tariffs, failing=failing)
    answer = await _authorize(OcppVersion.V21, decisions)
    assert answer == {
        "idTokenInfo": {"status": "Accepted", "groupIdToken": {"idToken": FLEET, "type": "Central"}}
    }
    assert "left out" in caplog.text


# -- RedisDecisions.group_tariff -------------------------------------------------------------


def test_assigned_at_takes_the_latest_entry_valid_then() -> None:
    history = [[NOW + HOUR, "LATER"], [0, "FIRST"], [NOW - 1, "NOW"]]
    assert assigned_at(history, NOW) == "NOW"
    assert assigned_at(history, NOW + HOUR) == "LATER"
    assert assigned_at([[NOW + HOUR, "LATER"]], NOW) is None  # never a future one
    assert assigned_at([[0, "FIRST"], [NOW - 1, None]], NOW) is None  # unassigned


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = make_redis(replace(Settings(), redis_url=REDIS_URL))
    yield client
    await client.aclose()


@pytest.fixture
def run() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def cleanup(redis: Redis, run: str) -> AsyncIterator[None]:
    yield
    tariffs = [f"T-{run}", f"U-{run}"]
    # "default" too: this database is this directory's (no other suite assigns tariffs in it).
    groups = [f"group:G-{run}", f"group:H-{run}", f"group:F-{run}", "default"]
    await redis.delete(*(redis_keys.tariff(t) for t in tariffs))
    await redis.srem(redis_keys.TARIFFS, *tariffs)
    await redis.hdel(redis_keys.TARIFF_ASSIGNMENTS, *groups)


def _decisions(redis: Redis, now: int) -> RedisDecisions:
    return RedisDecisions(redis, heartbeat_interval_s=300, clock=lambda: now)


@pytest.mark.usefixtures("cleanup")
async def test_redis_decisions_reads_the_group_tariff_valid_now(redis: Redis, run: str) -> None:
    store = TariffStore(redis)
    body = {"id": f"T-{run}", "currency": "EUR", "energy_per_kwh": "0.30"}
    await store.create(body, NOW - 2 * HOUR)
    # Version 2 applies from a later moment: now is still priced with version 1.
    await store.update(f"T-{run}", {**body, "valid_from_ms": NOW + HOUR}, NOW - HOUR)
    await store.assign("group", group=f"G-{run}", tariff_id=f"T-{run}", now_ms=NOW - HOUR)
    # Assigned, but only from later on; and the network default never counts.
    await store.assign("group", group=f"H-{run}", tariff_id=f"T-{run}", now_ms=NOW + HOUR)
    await store.assign("default", tariff_id=f"T-{run}", now_ms=NOW - HOUR)

    found = await _decisions(redis, NOW).group_tariff(f"G-{run}")
    assert found is not None
    assert (found["id"], found["version"], found["energy_per_kwh"]) == (f"T-{run}", 1, "0.30")
    later = await _decisions(redis, NOW + HOUR).group_tariff(f"G-{run}")
    assert later is not None and later["version"] == 2
    assert await _decisions(redis, NOW).group_tariff(f"H-{run}") is None
    assert await _decisions(redis, NOW).group_tariff(f"NONE-{run}") is None


@pytest.mark.usefixtures("cleanup")
async def test_redis_decisions_ignores_a_tariff_not_valid_yet_or_unreadable(
    redis: Redis, run: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = TariffStore(redis)
    body = {"id": f"U-{run}", "currency": "EUR", "valid_from_ms": NOW + HOUR}
    await store.create(body, NOW - HOUR)  # its first version only applies from later on
    await store.assign("group", group=f"F-{run}", tariff_id=f"U-{run}", now_ms=NOW - HOUR)
    assert await _decisions(redis, NOW).group_tariff(f"F-{run}") is None
    await redis.hset(redis_keys.TARIFF_ASSIGNMENTS, f"group:G-{run}", "{not json")
    assert await _decisions(redis, NOW).group_tariff(f"G-{run}") is None
    assert "unreadable" in caplog.text
