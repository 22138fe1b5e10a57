"""The bills read model: codec round trips, the public bill, lenient decoding, Redis and memory
alike."""

from __future__ import annotations

from typing import Any, cast

import pytest
from hypothesis import given
from redis.asyncio import Redis

from csms.domain.session_bill import BillState, Walk, merge_snapshot, priced
from csms.domain.tariffs import parse_tariff
from csms.projections.write_behind import WriteBehindRedis
from csms.readmodels.bills import (
    Bills,
    MemoryBills,
    RedisBills,
    bill_key,
    bill_of,
    checkpoint_key,
    decode_bill_state,
    decode_checkpoint,
    encode_bill_state,
    encode_checkpoint,
    issued_bill,
)
from tests.unit.readmodels.strategies import PROPERTY, json_objects


@PROPERTY
@given(json_objects)
def test_bill_state_and_checkpoint_round_trip(state: dict[str, Any]) -> None:
    assert decode_bill_state(encode_bill_state(state)) == state
    assert decode_checkpoint(encode_checkpoint(state)) == state


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null"])
def test_malformed_values_are_none_and_logged(raw: str, caplog: pytest.LogCaptureFixture) -> None:
    assert decode_bill_state(raw) is None
    assert decode_checkpoint(raw) is None
    assert "not a JSON object" in caplog.text


def test_the_public_bill_and_the_issued_one() -> None:
    running = {"state": "running", "total": "1.20"}
    state = {"evse": 2, "id_token": None, "readings": [[1, 2]], "bill": running}
    assert bill_of(state) == {"evse": 2, **running}  # the session's context, no private fields
    assert issued_bill(state) is None  # not final yet
    final = {"state": "final", "total": "3.40", "evse": 1}
    assert bill_of({**state, "bill": final}) == final  # the bill's own fields win
    assert issued_bill({**state, "bill": final}) == final
    nothings: list[dict[str, Any] | None] = [None, {}, {"bill": {}}, {"bill": [1]}]
    for nothing in nothings:
        assert bill_of(nothing) is None and issued_bill(nothing) is None


# --- the same contract over Redis and in memory ------------------------------------------------


async def _scenario(store: Bills) -> tuple[object, ...]:
    state: dict[str, Any] = {"station": "CP-1", "readings": [[1, 2.5]], "bill": {"total": "1"}}
    await store.save_bill("CP-1/7", state)
    state["readings"].append([2, 3.0])  # a caller's later change is not stored
    loaded = await store.load_bill("CP-1/7")
    await store.save_checkpoint("CP-1/7", {"tariff": {"id": "T"}, "state": {}})
    kept = await store.load_checkpoint("CP-1/7")
    await store.save_checkpoint("CP-1/7", None)
    return loaded, await store.load_bill("CP-1/8"), kept, await store.load_checkpoint("CP-1/7")


async def test_redis_and_memory_behave_the_same(redis: Redis) -> None:
    in_redis = await _scenario(RedisBills(redis))
    assert in_redis == await _scenario(MemoryBills())
    loaded, *_ = in_redis
    assert loaded == {"station": "CP-1", "readings": [[1, 2.5]], "bill": {"total": "1"}}


async def test_redis_writes_the_documented_layout(redis: Redis) -> None:
    await RedisBills(redis).save_bill("CP-L/1", {"bill": {"state": "final"}})
    await RedisBills(redis).save_checkpoint("CP-L/1", {"tx": {}})
    assert await redis.get(bill_key("CP-L/1")) == '{"bill":{"state":"final"}}'
    assert await redis.get(checkpoint_key("CP-L/1")) == '{"tx":{}}'
    assert 0 < await redis.ttl(checkpoint_key("CP-L/1")) <= 3 * 24 * 3600


# --- the billing's own copy: the state kept as its object --------------------------------------


def _priced_state() -> BillState:
    state = BillState.of(None)
    snap = {"key": "CP-1/7", "station": "CP-1", "transaction_id": "7", "revision": 1}
    merge_snapshot(state, {**snap, "started_ms": 0, "meter_start_wh": 0.0, "readings": [[0, 0.0]]})
    tariff = parse_tariff({"id": "T", "currency": "EUR", "energy_per_kwh": "0.40"})
    priced(tariff, state)
    return state


def test_a_kept_state_encodes_as_the_plain_one() -> None:
    state = _priced_state()
    assert isinstance(state["walk"], Walk)  # the object, while the billing keeps it ...
    plain = decode_bill_state(encode_bill_state(state))
    assert plain is not None and plain["walk"] == state["walk"].to_dict()  # ... its dict in JSON
    assert decode_checkpoint(encode_checkpoint({"state": state})) == {"state": plain}


async def test_on_the_write_behind_copy_a_state_is_kept_and_written_at_the_flush(
    redis: Redis,
) -> None:
    cache = WriteBehindRedis(redis)
    store, state = RedisBills(cast(Redis, cache)), _priced_state()
    await store.save_bill("CP-1/7", state)
    assert await store.load_bill("CP-1/7") is state  # no encoding, no decoding per snapshot
    assert await redis.get(bill_key("CP-1/7")) is None
    await cache.flush()
    assert await redis.get(bill_key("CP-1/7")) == encode_bill_state(state).decode()
    assert await RedisBills(redis).load_bill("CP-1/7") == decode_bill_state(
        encode_bill_state(state)
    )
