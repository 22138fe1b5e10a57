"""The id tokens read model: codec round trips, lenient decoding, Redis and memory alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from csms.readmodels.id_tokens import (
    ID_TOKENS_KEY,
    IdTokenChange,
    IdTokenRecord,
    IdTokens,
    MemoryIdTokens,
    RedisIdTokens,
    decode_id_token,
    encode_change,
    encode_id_token,
    id_token_key,
    parse_expiry,
)
from tests.unit.readmodels.strategies import PROPERTY, ids, ms, text

records = st.builds(
    IdTokenRecord,
    token=ids,
    status=text,
    type=text,
    group=text,
    expiry=text,
    created_ms=ms,
    updated_ms=ms,
)
NOW = 1_738_324_800_000  # 2025-01-31T12:00:00Z


@PROPERTY
@given(records)
def test_id_token_round_trip(record: IdTokenRecord) -> None:
    fields = encode_id_token(record)
    assert decode_id_token(record.token, fields) == record
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()}
    assert decode_id_token(record.token, as_bytes) == record


def test_nothing_stored_is_none_and_unreadable_times_are_zero() -> None:
    assert decode_id_token("T", {}) is None
    assert decode_id_token("T", {"status": None, "group": None}) is None  # HMGET of nothing
    record = decode_id_token("T", {"status": "Blocked", "created_ms": "yesterday"})
    assert record == IdTokenRecord("T", status="Blocked")


def test_expiry_is_read_as_epoch_ms_or_iso_8601() -> None:
    assert IdTokenRecord("T", expiry="1738324800000").expiry_ms == NOW
    assert IdTokenRecord("T", expiry="2025-01-31T12:00:00Z").expiry_ms == NOW
    assert IdTokenRecord("T", expiry="2025-01-31T12:00:00").expiry_ms == NOW  # naive: UTC
    assert IdTokenRecord("T", expiry="next week").expiry_ms is None
    assert IdTokenRecord("T").expiry_ms is None
    assert parse_expiry(" 1738324800000 ") == NOW


def test_a_change_sets_given_fields_and_removes_emptied_ones() -> None:
    assert encode_change(IdTokenChange(status="Blocked", group="", expiry="x")) == (
        {"status": "Blocked", "expiry": "x"},
        ["group"],
    )
    assert encode_change(IdTokenChange()) == ({}, [])


# --- the same contract over Redis and in memory ------------------------------------------------


async def _scenario(store: IdTokens) -> tuple[object, ...]:
    made = await store.create(IdTokenRecord("B-TAG", status="Accepted", type="ISO14443"))
    again = await store.create(IdTokenRecord("B-TAG", status="Blocked", type="ISO14443"))
    await store.create(IdTokenRecord("A-TAG", "Accepted", "eMAID", group="FLEET", expiry="1"))
    await store.create(IdTokenRecord("C-TAG", "Invalid", "Central"))
    changed = await store.update("A-TAG", IdTokenChange(status="Blocked", group="", expiry="2"))
    missing = await store.update("NOPE", IdTokenChange(status="Blocked"))
    return (
        made,
        again,
        changed,
        missing,
        await store.get("A-TAG"),
        await store.get("NOPE"),
        await store.group("A-TAG"),
        await store.group("NOPE"),
        await store.tokens(0, 10),
        await store.tokens(1, 1),
        await store.tokens(0, 0),
        await store.count(),
        await store.many(["C-TAG", "NOPE", "B-TAG"]),
    )


async def test_redis_and_memory_behave_the_same(redis: Redis) -> None:
    def clock() -> int:
        return NOW

    in_redis = await _scenario(RedisIdTokens(redis, clock))
    in_memory = await _scenario(MemoryIdTokens(clock))
    assert in_redis == in_memory
    made, again, changed, *_ = in_redis
    assert made == IdTokenRecord("B-TAG", "Accepted", "ISO14443", created_ms=NOW, updated_ms=NOW)
    assert again is None
    assert changed == IdTokenRecord("A-TAG", "Blocked", "eMAID", "", "2", NOW, NOW)
    assert in_redis[8] == ["A-TAG", "B-TAG", "C-TAG"]


async def test_redis_writes_the_documented_layout(redis: Redis) -> None:
    record = IdTokenRecord("L-TAG", "Accepted", "ISO14443", group="G")
    await RedisIdTokens(redis, lambda: NOW).create(record)
    assert await redis.hgetall(id_token_key("L-TAG")) == {
        "status": "Accepted",
        "type": "ISO14443",
        "group": "G",
        "created_ms": str(NOW),
        "updated_ms": str(NOW),
    }
    assert await redis.zrange(ID_TOKENS_KEY, 0, -1, withscores=True) == [("L-TAG", 0.0)]
