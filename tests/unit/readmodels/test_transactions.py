"""The transactions read model: codec round trips, lenient decoding, Redis and memory alike."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from csms.domain.model import Transaction
from csms.domain.transactions import PendingStart, RemoteStartSent
from csms.projections.transactions import TransactionStore
from csms.readmodels.transactions import (
    ACTIVE_KEY,
    MemoryTransactions,
    RedisTransactions,
    TransactionReads,
    decode_pending,
    decode_remote,
    decode_transaction,
    encode_pending,
    encode_remote,
    encode_transaction,
    station_index_key,
    transaction_key,
)
from tests.unit.readmodels.strategies import PROPERTY, ids, ms, numbers, small, text

pairs = st.lists(st.lists(ms, min_size=2, max_size=2), max_size=3)


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    station, tx_id = draw(ids), draw(ids)
    return Transaction(
        key=f"{station}/{tx_id}",
        station=station,
        transaction_id=tx_id,
        proto=draw(st.sampled_from(["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])),
        evse=draw(small),
        connector=draw(small),
        id_token=draw(text),
        state=draw(st.sampled_from(["active", "ended"])),
        started_ms=draw(ms),
        ended_ms=draw(ms),
        meter_start_wh=draw(st.none() | numbers),
        meter_stop_wh=draw(st.none() | numbers),
        energy_wh=draw(numbers),
        stop_reason=draw(text),
        updated_ms=draw(ms),
        last_event_id=draw(text),
        revision=draw(small),
        charging_state=draw(text),
        offline=draw(st.booleans()),
        seq_ranges=draw(pairs),
        state_changes=draw(st.lists(st.tuples(ms, text).map(list), max_size=3)),
        remote_start_id=draw(st.none() | small),
        started_seen=draw(st.booleans()),
        stops=draw(st.lists(st.tuples(ms, st.none() | numbers).map(list), max_size=2)),
        first_reading_wh=draw(st.none() | numbers),
        first_positive_ms=draw(ms),
    )


@PROPERTY
@given(transactions())
def test_transaction_round_trip(tx: Transaction) -> None:
    assert decode_transaction(encode_transaction(tx)) == tx
    assert decode_transaction(encode_transaction(tx).decode()) == tx


@PROPERTY
@given(ids, ids, ids, small, text, st.none() | numbers, ms, ms)
def test_pending_start_round_trip(
    station: str, conn: str, uid: str, connector: int, tag: str, wh: float | None, ts: int, rx: int
) -> None:
    pending = PendingStart(station, conn, uid, "ocpp1.6", connector, tag, wh, ts, "ev", rx)
    assert decode_pending(encode_pending(pending)) == pending


@PROPERTY
@given(ids, text, text, st.none() | small, ms)
def test_remote_start_round_trip(
    station: str, ref: str, uid: str, connector: int | None, ts: int
) -> None:
    remote = RemoteStartSent(station, ref, uid, connector, ts)
    assert decode_remote(encode_remote(remote)) == remote


GOOD = Transaction(key="CP-1/7", station="CP-1", transaction_id="7", proto="ocpp1.6")


@pytest.mark.parametrize(
    "raw",
    [
        "nope",
        "[]",
        '"text"',
        '{"station": "CP-1"}',  # no id
        orjson.dumps({**GOOD.to_dict(), "evse": "3"}),  # a field of the wrong type
        orjson.dumps({**GOOD.to_dict(), "energy_wh": None}),
        orjson.dumps({k: v for k, v in GOOD.to_dict().items() if k != "proto"}),  # incomplete
    ],
)
def test_malformed_transactions_are_none_and_logged(
    raw: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert decode_transaction(raw) is None
    assert "transaction" in caplog.text


def test_unknown_fields_of_a_newer_writer_are_ignored() -> None:
    raw = orjson.dumps({**GOOD.to_dict(), "from_the_future": [1, 2]})
    assert decode_transaction(raw) == GOOD


def test_malformed_pending_and_remote_starts_are_none() -> None:
    for raw in ("{bad", '{"action": "StartTransaction"}', '{"action": "Other"}'):
        assert decode_pending(raw) is None
    assert decode_remote('["RemoteStart"]') is None


def test_both_implementations_are_the_processors_store_and_the_apis_reads(redis: Redis) -> None:
    # What mypy checks here: both classes have both contracts.
    stores: list[TransactionStore] = [RedisTransactions(redis), MemoryTransactions()]
    reads: list[TransactionReads] = [RedisTransactions(redis), MemoryTransactions()]
    assert len(stores) == len(reads)


# --- the same contract over Redis and in memory ------------------------------------------------


def _tx(station: str, tx_id: str, started: int, **kw: object) -> Transaction:
    return Transaction(f"{station}/{tx_id}", station, tx_id, "ocpp2.0.1", started_ms=started, **kw)  # type: ignore[arg-type]


async def _scenario(store: RedisTransactions | MemoryTransactions) -> tuple[object, ...]:
    for tx in (
        _tx("CP-A", "a1", 1000, activity_ms=5000),
        _tx("CP-A", "a2", 3000, activity_ms=9000),
        _tx("CP-B", "b1", 3000, activity_ms=2000),
        _tx("CP-B", "b2", 2000, state="ended", ended_ms=4000),
    ):
        await store.save(tx)
    await store.save(_tx("CP-A", "a1", 1000, state="ended", ended_ms=6000))
    pending = PendingStart("CP-A", "c1", "u1", "ocpp1.6", 1, "TAG", 10.0, 1000, "ev-1", 1200)
    remote = RemoteStartSent("CP-A", "tag:TAG", "cmd-1", 1, 900)
    await store.save_pending(pending)
    await store.save_remote(remote)
    found_pending = await store.load_pending("CP-A", "c1", "u1")
    found_remote = await store.load_remote("CP-A", "tag:TAG")
    await store.drop_pending("CP-A", "c1", "u1")
    await store.drop_remote("CP-A", "tag:TAG")
    return (
        await store.keys(None, 0, 10),
        await store.keys(None, 1, 2),
        await store.keys("CP-B", 0, 10),
        await store.keys("CP-A", 0, 0),
        await store.count(None),
        await store.count("CP-A"),
        await store.count("CP-NONE"),
        await store.many(["CP-A/a1", "CP-X/none", "CP-B/b1"]),
        await store.get("CP-A/a2"),
        await store.load("CP-NONE/x"),
        await store.active_keys("CP-A"),
        await store.active_keys("CP-B"),
        await store.stale_keys(8000, 10),
        await store.stale_keys(10_000, 1),
        (found_pending, found_remote),
        (await store.load_pending("CP-A", "c1", "u1"), await store.load_remote("CP-A", "tag:TAG")),
    )


async def test_redis_and_memory_behave_the_same(redis: Redis) -> None:
    in_redis = await _scenario(RedisTransactions(redis))
    in_memory = await _scenario(MemoryTransactions())
    assert in_redis == in_memory
    newest_first, window, *_ = in_redis
    # Equal start times: by key, descending (ZREVRANGE).
    assert newest_first == ["CP-B/b1", "CP-A/a2", "CP-B/b2", "CP-A/a1"]
    assert window == ["CP-A/a2", "CP-B/b2"]
    assert in_redis[12] == ["CP-B/b1"]  # stale: the last sign of life before 8000


async def test_redis_writes_the_documented_layout(redis: Redis) -> None:
    tx = _tx("CP-L", "1", 1000, activity_ms=1500)
    await RedisTransactions(redis).save(tx)
    assert await redis.get(transaction_key(tx.key)) == encode_transaction(tx).decode()
    assert await redis.zrange(station_index_key("CP-L"), 0, -1, withscores=True) == [
        ("CP-L/1", 1000.0)
    ]
    assert await redis.zscore(ACTIVE_KEY, tx.key) is not None
