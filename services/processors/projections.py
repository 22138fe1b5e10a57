"""Projection steps: load state from a store, fold one envelope with the pure domain, save.

The stores are Protocols so the same steps run against Redis in production and against
in-memory dicts in unit tests. Each step returns what changed (and only that), which the agent
publishes. An envelope that changes nothing - a redelivery, a frame without facts - returns
nothing, except the very frame behind a stored state: Redis is written before Kafka has the
snapshot, so that frame's snapshot is returned again (a duplicate is harmless downstream, a lost
one is not).
"""

from __future__ import annotations

from typing import Any, Protocol

from csms.domain import transactions as txp
from csms.domain.model import ConnectorStatus, Transaction
from csms.domain.status import (
    StationState,
    apply_station,
    connector_field,
    connector_statuses,
    status_verdict,
)
from csms.envelope import FrameEnvelope


class TransactionStore(Protocol):
    async def load(self, key: str) -> Transaction | None: ...

    async def save(self, tx: Transaction) -> None: ...

    async def load_pending(self, station: str, conn: str, uid: str) -> txp.PendingStart | None: ...

    async def save_pending(self, pending: txp.PendingStart) -> None: ...

    async def drop_pending(self, station: str, conn: str, uid: str) -> None: ...


class StationStore(Protocol):
    async def load_station(self, station: str) -> StationState | None: ...

    async def save_station(self, station: str, changed: dict[str, str]) -> None: ...

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None: ...

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None: ...


async def project_transaction(env: FrameEnvelope, store: TransactionStore) -> Transaction | None:
    """Apply one envelope to the transaction read model; the snapshot to publish, if any."""
    fact = txp.interpret(env)
    if fact is None:
        return None
    if isinstance(fact, txp.PendingStart):
        await store.save_pending(fact)
        return None
    if isinstance(fact, txp.PendingDropped):
        await store.drop_pending(fact.station, fact.conn, fact.uid)
        return None
    if isinstance(fact, txp.StartConfirmed):
        pending = await store.load_pending(fact.station, fact.conn, fact.uid)
        changed = await _fold(txp.confirm(pending, fact), store)
        # Dropped only once the transaction is saved: a crash in between redelivers the
        # CALLRESULT, which then still finds its CALL.
        await store.drop_pending(fact.station, fact.conn, fact.uid)
        return changed
    return await _fold(fact, store)


async def _fold(update: txp.TxUpdate, store: TransactionStore) -> Transaction | None:
    before = await store.load(update.key)
    after, verdict = txp.advance(before, update)
    if verdict == "apply":
        await store.save(after)
    return None if verdict == "skip" else after


async def project_status(env: FrameEnvelope, store: StationStore) -> list[ConnectorStatus]:
    """Apply one envelope to the station read model; the connector statuses to publish."""
    if env.kind not in ("connect", "disconnect") and env.dir != "in":
        return []  # what the CSMS sends tells nothing about the station
    before = await store.load_station(env.station)
    after = apply_station(before, env)
    changed = after.changed_fields(before)
    if changed:
        await store.save_station(env.station, changed)
    published = []
    for status in connector_statuses(env):
        stored = await store.load_connector(env.station, connector_field(status))
        verdict = status_verdict(status, env.ts, stored)
        if verdict == "apply":
            await store.save_connector(status, env.ts)
        if verdict != "skip":
            published.append(status)
    return published
