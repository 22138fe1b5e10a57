"""The transactions projection's step: load the transaction, fold one envelope with the pure
domain (csms.domain.transactions), save; what changed is returned for the agent to publish.

The store is a Protocol so the same step runs against Redis in production (csms.readmodels
through csms.projections.stores) and against in-memory read models in unit tests. An
envelope that changes nothing - a redelivery, a frame without facts - returns nothing, except the
very frame behind a stored state: Redis is written before Kafka has the snapshot, so that frame's
snapshot is returned again (a duplicate is harmless downstream, a lost one is not).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from csms.domain import transactions as txp
from csms.domain.model import Transaction
from csms.envelope import FrameEnvelope


class TransactionStore(Protocol):
    async def load(self, key: str) -> Transaction | None: ...

    async def save(self, tx: Transaction, previous: Transaction | None = None) -> None:
        """Also keeps the indexes: by start, the station's active set and the network's zset
        of active transactions by last sign of life (what the zombie policy scans). `previous`
        is the state `tx` replaces, as this store holds it: only what changed is rewritten."""

    async def active_keys(self, station: str) -> list[str]: ...

    async def stale_keys(self, before_ms: int, limit: int) -> list[str]:
        """Active transactions whose last sign of life is older than before_ms, oldest first."""

    async def load_pending(self, station: str, conn: str, uid: str) -> txp.PendingStart | None: ...

    async def save_pending(self, pending: txp.PendingStart) -> None: ...

    async def drop_pending(self, station: str, conn: str, uid: str) -> None: ...

    async def load_remote(self, station: str, ref: str) -> txp.RemoteStartSent | None: ...

    async def save_remote(self, remote: txp.RemoteStartSent) -> None: ...

    async def drop_remote(self, station: str, ref: str) -> None: ...


@dataclass(slots=True)
class TxProjected:
    """What one envelope changed: transaction snapshots and neutral events to publish."""

    snapshots: list[Transaction] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Transaction key -> the energy readings of the update that changed it.
    readings: dict[str, tuple[txp.Reading, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.snapshots or self.events)


async def project_transaction(env: FrameEnvelope, store: TransactionStore) -> TxProjected:
    """Apply one envelope to the transaction read model; what to publish."""
    out = TxProjected()
    fact = txp.interpret(env)
    if fact is None:
        return out
    if isinstance(fact, txp.PendingStart):
        await store.save_pending(fact)
    elif isinstance(fact, txp.PendingDropped):
        await store.drop_pending(fact.station, fact.conn, fact.uid)
    elif isinstance(fact, txp.RemoteStartSent):
        await store.save_remote(fact)
    elif isinstance(fact, txp.StartConfirmed):
        await _confirm(fact, store, out)
    elif isinstance(fact, txp.StationSignal):
        for key in await store.active_keys(fact.station):
            tx = await store.load(key)
            update = None if tx is None else txp.signal_update(tx, fact)
            if update is not None:
                await _fold(update, store, out)
    else:
        if fact.remote_start_id is not None:
            remote = await store.load_remote(fact.station, str(fact.remote_start_id))
            if remote is not None:
                fact = replace(fact, remote_start_uid=remote.uid)
        await _fold(fact, store, out)
    return out


async def _confirm(fact: txp.StartConfirmed, store: TransactionStore, out: TxProjected) -> None:
    pending = await store.load_pending(fact.station, fact.conn, fact.uid)
    ref = txp.remote_ref_16(pending.id_tag) if pending is not None else ""
    remote = await store.load_remote(fact.station, ref) if ref else None
    matched = remote if txp.remote_matches(remote, pending) else None
    await _fold(txp.confirm(pending, fact, matched), store, out)
    # Dropped only once the transaction is saved: a crash in between redelivers the CALLRESULT,
    # which then still finds its CALL (and its remote start).
    if matched is not None:
        await store.drop_remote(fact.station, ref)
    await store.drop_pending(fact.station, fact.conn, fact.uid)


async def _fold(update: txp.TxUpdate, store: TransactionStore, out: TxProjected) -> None:
    before = await store.load(update.key)
    after, verdict = txp.advance(before, update)
    if verdict == "skip":
        return
    if verdict == "apply":
        await store.save(after, before)
    out.snapshots.append(after)
    if update.readings:
        out.readings[after.key] = update.readings
    # A station's retry of an event already folded is no new event (its id is the seqNo).
    retry = verdict == "apply" and before is not None and txp.seq_seen(before, update.seq_no)
    event = None if retry else txp.neutral_event(update, after)
    if event is not None:
        out.events.append(event)
