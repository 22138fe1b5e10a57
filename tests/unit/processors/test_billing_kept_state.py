"""The billing step on the live agent's store - the write-behind copy, which keeps each state as
its object between snapshots and encodes it at the flush - does exactly what it does on a store
that encodes and decodes the state at every snapshot (the in-memory bills read model): the same
bills published, the same calls to stations, the same state and cost checkpoint stored, after
every snapshot. Sessions interleave; the copy is flushed and forgotten (a rebalance) at random.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from csms.domain.session_bill import Display
from csms.infra.memory_redis import MemoryRedis
from csms.projections.billing import (
    BillingConfig,
    BillingStep,
    BillingStore,
    RedisBillingStore,
)
from csms.projections.write_behind import WriteBehindRedis
from csms.readmodels.bills import MemoryBills, encode_bill_state, encode_checkpoint
from tests.unit.domain.test_session_bill_kept import TARIFF, snapshot_streams
from tests.unit.processors.billing_harness import MIN, Lookups, Messages

DISPLAYS = [Display(), Display(final=True, message=True, cost_updated=True)]


def _sessions(streams: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    """The streams as sessions of their own (keys and transaction ids apart)."""
    return [
        [{**snap, "key": f"CP-1/{n}", "transaction_id": str(n)} for snap in stream]
        for n, stream in enumerate(streams)
    ]


async def _fold(
    store: BillingStore, display: Display, records: list[dict[str, Any]], cache: Any, moves: Any
) -> list[tuple[Any, ...]]:
    messages = Messages()
    step = BillingStep(store, Lookups(TARIFF, display), messages, BillingConfig(5 * MIN, True, 8))
    seen = []
    for record, (flush, forget) in zip(records, moves, strict=True):
        billed = await step.on_snapshot(record)
        key = record["key"]
        state, checkpoint = await store.load_bill(key), await store.load_checkpoint(key)
        seen.append(
            (
                billed.publish,
                billed.calls,
                billed.changed,
                None if state is None else encode_bill_state(state),
                None if checkpoint is None else encode_checkpoint(checkpoint),
            )
        )
        if cache is not None and flush:
            await cache.flush()
        if cache is not None and forget:
            cache.reset()
    return [*seen, tuple(messages.sent)]


@given(st.lists(snapshot_streams(), min_size=1, max_size=2), st.sampled_from(DISPLAYS), st.data())
def test_the_kept_state_bills_as_the_encoded_one(
    streams: list[list[dict[str, Any]]], display: Display, data: st.DataObject
) -> None:
    sessions = _sessions(streams)
    records = []
    while any(sessions):  # interleaved, each session in its own order
        session = data.draw(st.sampled_from([s for s in sessions if s]))
        records.append(session.pop(0))
    moves = [
        (data.draw(st.integers(0, 4)) == 0, data.draw(st.integers(0, 19)) == 0) for _ in records
    ]
    cache = WriteBehindRedis(cast(Redis, MemoryRedis()))
    kept = asyncio.run(_fold(RedisBillingStore(cache), display, records, cache, moves))
    encoded = asyncio.run(_fold(MemoryBills(), display, records, None, moves))
    assert kept == encoded
