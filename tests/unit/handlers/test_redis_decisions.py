"""RedisDecisions against a real Redis (DB 6, flushed around every test): admission per policy
and registry status, token statuses with expiry and group, network-wide transaction ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from csms.handlers import BootDecision, TokenInfo
from csms.infra import redis_keys
from csms.infra.redis_client import make_redis
from csms.infra.redis_decisions import RedisDecisions
from csms.infra.station_registry import StationRegistry
from csms.readmodels.id_tokens import parse_expiry
from csms.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/6"  # this suite's database
NOW = 1_764_000_000_000
HEARTBEAT, RETRY = 300, 45


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = make_redis(replace(Settings(), redis_url=REDIS_URL))
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


def _decisions(redis: Redis, admission: str = "open") -> RedisDecisions:
    return RedisDecisions(
        redis,
        heartbeat_interval_s=HEARTBEAT,
        admission=admission,
        retry_interval_s=RETRY,
        clock=lambda: NOW,
    )


# -- admission ----------------------------------------------------------------------------------


async def test_open_registers_an_unknown_station_accepted(redis: Redis) -> None:
    assert await _decisions(redis, "open").boot("CP-NEW") == BootDecision("Accepted", HEARTBEAT)
    registration = await StationRegistry(redis).get("CP-NEW")
    assert registration is not None
    assert (registration.status, registration.created_ms) == ("Accepted", NOW)


async def test_pending_registers_an_unknown_station_pending(redis: Redis) -> None:
    assert await _decisions(redis, "pending").boot("CP-NEW") == BootDecision("Pending", RETRY)
    registration = await StationRegistry(redis).get("CP-NEW")
    assert registration is not None and registration.status == "Pending"


async def test_pending_station_is_accepted_once_an_operator_accepts_it(redis: Redis) -> None:
    decisions = _decisions(redis, "pending")
    assert (await decisions.boot("CP-1")).status == "Pending"
    await StationRegistry(redis).set_status("CP-1", "Accepted")
    assert await decisions.boot("CP-1") == BootDecision("Accepted", HEARTBEAT)


async def test_closed_rejects_an_unknown_station_and_registers_nothing(redis: Redis) -> None:
    assert await _decisions(redis, "closed").boot("CP-NEW") == BootDecision("Rejected", RETRY)
    assert await StationRegistry(redis).get("CP-NEW") is None


@pytest.mark.parametrize("admission", ["open", "pending", "closed"])
@pytest.mark.parametrize(
    ("registered", "expected"),
    [
        ("Accepted", BootDecision("Accepted", HEARTBEAT)),
        ("Pending", BootDecision("Pending", RETRY)),
        ("Rejected", BootDecision("Rejected", RETRY)),
    ],
)
async def test_a_registered_station_gets_its_registry_status(
    redis: Redis, admission: str, registered: str, expected: BootDecision
) -> None:
    await StationRegistry(redis).set_status("CP-1", registered)
    assert await _decisions(redis, admission).boot("CP-1") == expected


async def test_an_unreadable_registry_status_makes_the_station_retry(redis: Redis) -> None:
    await redis.hset(redis_keys.registration("CP-1"), "status", "Maybe")
    assert await _decisions(redis).boot("CP-1") == BootDecision("Pending", RETRY)


def test_an_unknown_admission_policy_is_refused(redis: Redis) -> None:
    with pytest.raises(ValueError, match="admission"):
        _decisions(redis, "ajar")


async def test_from_settings_takes_the_admission_and_heartbeat(redis: Redis) -> None:
    settings = replace(Settings(), gateway_admission="pending", heartbeat_interval_s=120)
    decisions = RedisDecisions.from_settings(redis, settings)
    assert decisions.heartbeat_interval_s == 120
    assert (await decisions.boot("CP-NEW")).status == "Pending"
    await StationRegistry(redis).set_status("CP-NEW", "Accepted")
    assert await decisions.boot("CP-NEW") == BootDecision("Accepted", 120)


# -- authorization ------------------------------------------------------------------------------


async def _token(redis: Redis, token: str, **fields: str) -> None:
    for name, value in fields.items():
        await redis.hset(redis_keys.id_token(token), name, value)


async def test_an_unknown_token_is_accepted_on_this_open_network(redis: Redis) -> None:
    assert await _decisions(redis).authorize("NEVER-SEEN") == TokenInfo("Accepted")


@pytest.mark.parametrize("status", ["Accepted", "Blocked", "Invalid", "NoCredit"])
async def test_a_listed_token_has_its_status(redis: Redis, status: str) -> None:
    await _token(redis, "T1", status=status)
    assert await _decisions(redis).authorize("T1") == TokenInfo(status)


async def test_a_listed_token_without_status_is_accepted_with_its_group(redis: Redis) -> None:
    await _token(redis, "T1", group="FLEET")
    assert await _decisions(redis).authorize("T1") == TokenInfo("Accepted", group="FLEET")


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        (str(NOW + 60_000), TokenInfo("Accepted", expiry_ms=NOW + 60_000)),
        (str(NOW - 1), TokenInfo("Expired", expiry_ms=NOW - 1)),
        ("2025-11-24T16:01:00Z", TokenInfo("Accepted", expiry_ms=NOW + 60_000)),
        ("2025-11-24T16:00:00Z", TokenInfo("Expired", expiry_ms=NOW)),
        ("2025-11-24T15:59:59.999+00:00", TokenInfo("Expired", expiry_ms=NOW - 1)),
    ],
)
async def test_expiry_in_ms_or_iso_makes_a_token_expired_once_past(
    redis: Redis, expiry: str, expected: TokenInfo
) -> None:
    await _token(redis, "T1", status="Accepted", expiry=expiry)
    assert await _decisions(redis).authorize("T1") == expected


async def test_a_blocked_token_stays_blocked_after_its_expiry(redis: Redis) -> None:
    await _token(redis, "T1", status="Blocked", expiry=str(NOW - 1))
    assert (await _decisions(redis).authorize("T1")).status == "Blocked"


async def test_an_unreadable_expiry_is_not_trusted(redis: Redis) -> None:
    await _token(redis, "T1", status="Accepted", expiry="next tuesday")
    assert (await _decisions(redis).authorize("T1")).status == "Invalid"


def test_parse_expiry_reads_naive_iso_as_utc() -> None:
    assert parse_expiry("2025-11-24T16:00:00") == NOW
    assert parse_expiry(" 123 ") == 123
    assert parse_expiry("") is None


# -- transaction ids ----------------------------------------------------------------------------


async def test_transaction_ids_are_unique_across_gateways(redis: Redis) -> None:
    # Two RedisDecisions stand for two gateways sharing the network's Redis.
    gateways = [_decisions(redis), _decisions(redis)]
    ids: list[int] = []
    for _ in range(10):  # concurrent rounds small enough for the client's connection pool
        ids += await asyncio.gather(*(g.next_transaction_id() for g in gateways * 5))
    assert len(set(ids)) == len(ids) == 100
    assert min(ids) >= 1
