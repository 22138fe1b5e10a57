"""The transactions read model: every charging session as the neutral Transaction, its indexes,
and the transactions step's own working state (1.6 starts and remote starts awaiting their
transaction).

Keys (writer: the processors' transactions step, and its zombie sweep; readers: the API, the
processors themselves):
* `csms:tx:<station>/<id>` string: JSON of Transaction.to_dict().
* `csms:station:<station>:txs` and `csms:txs` sorted sets: transaction key -> started_ms.
* `csms:station:<station>:active_txs` set and `csms:txs:active` sorted set (key -> last sign of
  life, csms.domain.transactions.life_ms): the active transactions, for reboots, 1.6 statuses
  and the zombie policy.
* `csms:pending:<station>:<conn>:<uid>` string, TTL 1 h: JSON of PendingStart.to_dict() (a 1.6
  StartTransaction CALL awaiting its CALLRESULT).
* `csms:pending:remote:<station>:<ref>` string, TTL 10 min: JSON of RemoteStartSent.to_dict()
  (a CSMS remote start awaiting its transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Protocol, cast

import orjson

from csms.domain.model import Transaction
from csms.domain.transactions import (
    ACTIVE,
    PENDING_TTL_S,
    REMOTE_START_TTL_S,
    PendingStart,
    RemoteStartSent,
    life_ms,
)
from csms.readmodels.base import PREFIX, RedisReadModel, json_object, load_object
from csms.text import as_text

log = logging.getLogger(__name__)

TRANSACTIONS_KEY = f"{PREFIX}:txs"
ACTIVE_KEY = f"{PREFIX}:txs:active"


def transaction_key(key: str) -> str:
    """String: JSON of the Transaction whose key (csms.domain.transactions.tx_key) is `key`."""
    return f"{PREFIX}:tx:{key}"


def station_index_key(station_id: str) -> str:
    """Sorted set: the station's transaction keys -> start time (epoch ms)."""
    return f"{PREFIX}:station:{station_id}:txs"


def station_active_key(station_id: str) -> str:
    """Set: keys of the station's active transactions (what a reboot or a status touches)."""
    return f"{PREFIX}:station:{station_id}:active_txs"


def pending_key(station_id: str, conn: str, uid: str) -> str:
    """String, TTL: JSON of a 1.6 StartTransaction CALL awaiting its CALLRESULT (correlated by
    station, connection and message id)."""
    return f"{PREFIX}:pending:{station_id}:{conn}:{uid}"


def remote_start_key(station_id: str, ref: str) -> str:
    """String, TTL: JSON of a CSMS remote start awaiting its transaction (ref: 2.x
    remoteStartId, 1.6 `tag:<idTag>`)."""
    return f"{PREFIX}:pending:remote:{station_id}:{ref}"


# --- codec ---------------------------------------------------------------------------------------


def _accepted(annotation: str) -> tuple[type, ...] | None:
    """The JSON types a field of this annotation may hold; None: not checked."""
    kinds: list[type] = []
    for part in (p.strip() for p in annotation.split("|")):
        if part == "None":
            kinds.append(type(None))
        elif part.startswith("list["):
            kinds.append(list)
        elif part in ("str", "bool"):
            kinds.append(str if part == "str" else bool)
        elif part in ("int", "float"):
            kinds.extend((int,) if part == "int" else (int, float))
        else:
            return None
    return tuple(kinds)


# Computed once: field -> the types its stored value may have.
_FIELD_TYPES = {
    f.name: kinds for f in fields(Transaction) if (kinds := _accepted(str(f.type))) is not None
}
_VALUES = attrgetter(*_FIELD_TYPES)
# The shapes (the type of each checked field) found well typed: nearly every stored transaction
# has one of a few, so a decode costs one tuple of types and a set lookup (bounded: a corrupt
# writer cannot grow it without end).
_GOOD_SHAPES: set[tuple[type, ...]] = set()
_MAX_SHAPES = 4096


def encode_transaction(tx: Transaction) -> bytes:
    return orjson.dumps(tx.to_dict())


def decode_transaction(raw: str | bytes) -> Transaction | None:
    """The stored Transaction; None (logged) when it is not one: not a JSON object, no station or
    id, a field missing or of the wrong type. The processors then rebuild it from the frames that
    follow rather than blocking on it; the API leaves it out."""
    data = json_object(raw, "transaction")
    if data is None:
        return None
    if not data.get("station") or not data.get("transaction_id"):
        log.warning("transaction without station or id: ignored")
        return None
    try:
        tx = Transaction.from_dict(data)
    except TypeError:  # a field it needs is missing
        log.warning("transaction %r: incomplete, ignored", data.get("key"))
        return None
    return tx if _well_typed(tx) else None


def _well_typed(tx: Transaction) -> bool:
    shape = tuple(map(type, _VALUES(tx)))
    if shape in _GOOD_SHAPES:
        return True
    for (name, kinds), kind in zip(_FIELD_TYPES.items(), shape, strict=True):
        if not issubclass(kind, kinds):
            log.warning("transaction %r: unreadable %s, ignored", tx.key, name)
            return False
    if len(_GOOD_SHAPES) < _MAX_SHAPES:
        _GOOD_SHAPES.add(shape)
    return True


def encode_pending(pending: PendingStart) -> bytes:
    return orjson.dumps(pending.to_dict())


def decode_pending(raw: str | bytes) -> PendingStart | None:
    data = json_object(raw, "pending 1.6 start")
    return None if data is None else PendingStart.from_dict(data)


def encode_remote(remote: RemoteStartSent) -> bytes:
    return orjson.dumps(remote.to_dict())


def decode_remote(raw: str | bytes) -> RemoteStartSent | None:
    data = json_object(raw, "pending remote start")
    return None if data is None else RemoteStartSent.from_dict(data)


# --- what readers get ----------------------------------------------------------------------------


class TransactionReads(Protocol):
    """What the API reads. The processors' reads and writes are csms.projections.transactions.
    TransactionStore, which both classes below implement too."""

    async def keys(self, station_id: str | None, start: int, count: int) -> list[str]:
        """`count` transaction keys from position `start`, newest first (by start time; equal
        start times by key, descending), network-wide or of one station."""
        ...

    async def count(self, station_id: str | None) -> int: ...

    async def many(self, keys: Sequence[str]) -> list[Transaction | None]:
        """The transactions of `keys`, in order; None where missing or unreadable."""
        ...

    async def get(self, key: str) -> Transaction | None: ...


# --- Redis ---------------------------------------------------------------------------------------


def _index_writes(
    tx: Transaction, previous: Transaction | None = None
) -> list[tuple[str, tuple[object, ...]]]:
    """The index writes of a saved transaction (redis-py method, arguments): by station and
    network-wide by start, and the active ones (the station's set; the network's zset by last
    sign of life, which the zombie policy scans). Given the state it replaces (as stored), only
    the entries that change: most updates move the last sign of life alone."""
    out: list[tuple[str, tuple[object, ...]]] = []
    if previous is None or previous.started_ms != tx.started_ms:
        by_start = {tx.key: tx.started_ms}
        out += [("zadd", (station_index_key(tx.station), by_start))]
        out += [("zadd", (TRANSACTIONS_KEY, by_start))]
    was_active = previous is not None and previous.state == ACTIVE
    if tx.state == ACTIVE:
        if not was_active:
            out.append(("sadd", (station_active_key(tx.station), tx.key)))
        if previous is None or not was_active or life_ms(previous) != life_ms(tx):
            out.append(("zadd", (ACTIVE_KEY, {tx.key: life_ms(tx)})))
    elif previous is None or was_active:
        out += [("srem", (station_active_key(tx.station), tx.key)), ("zrem", (ACTIVE_KEY, tx.key))]
    return out


class RedisTransactions(RedisReadModel):
    """On Redis, on the processors' write-behind copy (a transaction decoded once per batch and
    encoded once at the flush) or on the replay's in-memory Redis."""

    async def load(self, key: str) -> Transaction | None:
        return await load_object(self._redis, self._cache, transaction_key(key), decode_transaction)

    async def save(self, tx: Transaction, previous: Transaction | None = None) -> None:
        if self._cache is not None:
            # The write-behind copy writes the whole batch atomically at its flush: the JSON is
            # encoded then, the index writes are logged now (no pipeline object per save).
            self._cache.set_object(transaction_key(tx.key), tx, encode_transaction)
            for name, args in _index_writes(tx, previous):
                await getattr(self._redis, name)(*args)
            if tx.state != ACTIVE:  # ended: not needed in memory after this batch
                self._cache.retire(transaction_key(tx.key))
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(transaction_key(tx.key), encode_transaction(tx))
            for name, args in _index_writes(tx, previous):
                getattr(pipe, name)(*args)
            await pipe.execute()

    async def active_keys(self, station: str) -> list[str]:
        keys = await self._redis.smembers(station_active_key(station))
        return sorted(as_text(k) for k in keys)

    async def stale_keys(self, before_ms: int, limit: int) -> list[str]:
        keys = await self._redis.zrangebyscore(ACTIVE_KEY, "-inf", before_ms, start=0, num=limit)
        return [as_text(k) for k in keys]

    async def load_remote(self, station: str, ref: str) -> RemoteStartSent | None:
        raw = await self._redis.get(remote_start_key(station, ref))
        return None if raw is None else decode_remote(raw)

    async def save_remote(self, remote: RemoteStartSent) -> None:
        key = remote_start_key(remote.station, remote.ref)
        await self._redis.set(key, encode_remote(remote), ex=REMOTE_START_TTL_S)

    async def drop_remote(self, station: str, ref: str) -> None:
        await self._redis.delete(remote_start_key(station, ref))

    async def load_pending(self, station: str, conn: str, uid: str) -> PendingStart | None:
        raw = await self._redis.get(pending_key(station, conn, uid))
        return None if raw is None else decode_pending(raw)

    async def save_pending(self, pending: PendingStart) -> None:
        key = pending_key(pending.station, pending.conn, pending.uid)
        await self._redis.set(key, encode_pending(pending), ex=PENDING_TTL_S)

    async def drop_pending(self, station: str, conn: str, uid: str) -> None:
        await self._redis.delete(pending_key(station, conn, uid))

    @staticmethod
    def _index(station_id: str | None) -> str:
        return TRANSACTIONS_KEY if station_id is None else station_index_key(station_id)

    async def keys(self, station_id: str | None, start: int, count: int) -> list[str]:
        if count <= 0:
            return []
        # Without withscores, ZREVRANGE returns bare members (the stub's union covers both forms).
        members = cast(
            "list[bytes | str]",
            await self._redis.zrevrange(self._index(station_id), start, start + count - 1),
        )
        return [as_text(m) for m in members]

    async def count(self, station_id: str | None) -> int:
        return int(await self._redis.zcard(self._index(station_id)))

    async def many(self, keys: Sequence[str]) -> list[Transaction | None]:
        if not keys:
            return []
        raws = await self._redis.mget([transaction_key(k) for k in keys])
        return [None if raw is None else decode_transaction(raw) for raw in raws]

    async def get(self, key: str) -> Transaction | None:
        raw = await self._redis.get(transaction_key(key))
        return None if raw is None else decode_transaction(raw)


# --- in memory -----------------------------------------------------------------------------------


class MemoryTransactions:
    """In dicts: the transactions by key (the indexes follow from them), pending starts and remote
    starts (no expiry)."""

    def __init__(self) -> None:
        self.txs: dict[str, Transaction] = {}
        self.pending: dict[tuple[str, str, str], PendingStart] = {}
        self.remotes: dict[tuple[str, str], RemoteStartSent] = {}

    async def load(self, key: str) -> Transaction | None:
        return self.txs.get(key)

    async def save(self, tx: Transaction, previous: Transaction | None = None) -> None:
        self.txs[tx.key] = tx

    async def active_keys(self, station: str) -> list[str]:
        return sorted(
            k for k, tx in self.txs.items() if tx.station == station and tx.state == ACTIVE
        )

    async def stale_keys(self, before_ms: int, limit: int) -> list[str]:
        active = [tx for tx in self.txs.values() if tx.state == ACTIVE]
        stale = sorted((life_ms(tx), tx.key) for tx in active if life_ms(tx) <= before_ms)
        return [key for _, key in stale[:limit]]

    async def load_remote(self, station: str, ref: str) -> RemoteStartSent | None:
        return self.remotes.get((station, ref))

    async def save_remote(self, remote: RemoteStartSent) -> None:
        self.remotes[(remote.station, remote.ref)] = remote

    async def drop_remote(self, station: str, ref: str) -> None:
        self.remotes.pop((station, ref), None)

    async def load_pending(self, station: str, conn: str, uid: str) -> PendingStart | None:
        return self.pending.get((station, conn, uid))

    async def save_pending(self, pending: PendingStart) -> None:
        self.pending[(pending.station, pending.conn, pending.uid)] = pending

    async def drop_pending(self, station: str, conn: str, uid: str) -> None:
        self.pending.pop((station, conn, uid), None)

    def _indexed(self, station_id: str | None) -> list[tuple[int, str]]:
        txs = self.txs.values()
        return [(tx.started_ms, tx.key) for tx in txs if station_id in (None, tx.station)]

    async def keys(self, station_id: str | None, start: int, count: int) -> list[str]:
        if count <= 0:
            return []
        newest_first = sorted(self._indexed(station_id), reverse=True)
        return [key for _, key in newest_first[start : start + count]]

    async def count(self, station_id: str | None) -> int:
        return len(self._indexed(station_id))

    async def many(self, keys: Sequence[str]) -> list[Transaction | None]:
        return [self.txs.get(k) for k in keys]

    async def get(self, key: str) -> Transaction | None:
        return self.txs.get(key)
