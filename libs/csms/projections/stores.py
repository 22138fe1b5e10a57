"""Redis implementations of the projection stores (key layout: csms.infra.redis_keys).

Written here (decode_responses=True: every value is text):
* `csms:tx:<station>/<id>` string: JSON of Transaction.to_dict().
* `csms:station:<station>:txs` and `csms:txs` sorted sets: transaction key -> started_ms.
* `csms:pending:<station>:<conn>:<uid>` string, TTL 1 h: JSON of PendingStart.to_dict()
  (a 1.6 StartTransaction CALL awaiting its CALLRESULT).
* `csms:station:<station>:active_txs` set and `csms:txs:active` sorted set (key -> last sign
  of life): the active transactions, for reboots, 1.6 statuses and the zombie policy.
* `csms:pending:remote:<station>:<ref>` string, TTL 10 min: a CSMS remote start awaiting its
  transaction.
* `csms:station:<station>` hash: StationState.to_fields() - protocol, online "1"/"0",
  last_seen, gateway, conn, vendor, model, firmware, serial, boot_ts, connected_ts,
  disconnected_ts (times as epoch-ms text, "0" = never).
* `csms:station:<station>:connectors` hash: "<evse>/<connector>" -> JSON of the
  ConnectorStatus (station, evse, connector, status, error_code, ts_ms, proto, event_id) plus
  received_ms (the gateway's receive time, which orders notifications).
* `csms:stations` set: station ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis

from csms.domain.model import ConnectorStatus, Transaction
from csms.domain.status import StationState, connector_field, connector_json
from csms.domain.transactions import (
    ACTIVE,
    PENDING_TTL_S,
    REMOTE_START_TTL_S,
    PendingStart,
    RemoteStartSent,
    life_ms,
)
from csms.infra import redis_keys
from csms.infra.memory_redis import MemoryRedis
from csms.projections.write_behind import WriteBehindRedis

log = logging.getLogger(__name__)

# What the stores write through: Redis itself, an agent's write-behind copy (live), or the
# replay's in-memory Redis.
RedisClient = Redis | WriteBehindRedis | MemoryRedis
T = TypeVar("T")


async def load_object(
    redis: RedisClient, key: str, decode: Callable[[str | bytes], T | None]
) -> T | None:
    """A JSON value as its object: the write-behind copy decodes a key once per batch, not once
    per frame (WriteBehindRedis.get_object); elsewhere it is decoded at each read."""
    if isinstance(redis, WriteBehindRedis):
        return await redis.get_object(key, decode)
    raw = await redis.get(key)
    return None if raw is None else decode(raw)


async def save_object(redis: RedisClient, key: str, value: T, encode: Callable[[T], bytes]) -> None:
    """SET key to the object's JSON: encoded at the flush on the write-behind copy (once per
    batch however many frames changed it), at once elsewhere."""
    if isinstance(redis, WriteBehindRedis):
        redis.set_object(key, value, encode)
    else:
        await redis.set(key, encode(value))


def encode_transaction(tx: Transaction) -> bytes:
    return orjson.dumps(tx.to_dict())


def decode_transaction(raw: str | bytes) -> Transaction | None:
    try:
        return Transaction.from_dict(orjson.loads(raw))
    except (orjson.JSONDecodeError, TypeError):
        # A corrupt read model is rebuilt from the frames rather than blocking them.
        log.warning("unreadable transaction in Redis: rebuilding it")
        return None


class RedisTransactionStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def load(self, key: str) -> Transaction | None:
        return await load_object(self._redis, redis_keys.transaction(key), decode_transaction)

    async def save(self, tx: Transaction) -> None:
        active = redis_keys.station_active_transactions(tx.station)
        if isinstance(self._redis, WriteBehindRedis):  # the JSON is written at the flush
            self._redis.set_object(redis_keys.transaction(tx.key), tx, encode_transaction)
        async with self._redis.pipeline(transaction=True) as pipe:
            if not isinstance(self._redis, WriteBehindRedis):
                pipe.set(redis_keys.transaction(tx.key), encode_transaction(tx))
            pipe.zadd(redis_keys.station_transactions(tx.station), {tx.key: tx.started_ms})
            pipe.zadd(redis_keys.TRANSACTIONS, {tx.key: tx.started_ms})
            if tx.state == ACTIVE:
                pipe.sadd(active, tx.key)
                pipe.zadd(redis_keys.ACTIVE_TRANSACTIONS, {tx.key: life_ms(tx)})
            else:
                pipe.srem(active, tx.key)
                pipe.zrem(redis_keys.ACTIVE_TRANSACTIONS, tx.key)
            await pipe.execute()

    async def active_keys(self, station: str) -> list[str]:
        keys = await self._redis.smembers(redis_keys.station_active_transactions(station))
        return sorted(str(k) for k in keys)

    async def stale_keys(self, before_ms: int, limit: int) -> list[str]:
        keys = await self._redis.zrangebyscore(
            redis_keys.ACTIVE_TRANSACTIONS, "-inf", before_ms, start=0, num=limit
        )
        return [str(k) for k in keys]

    async def load_remote(self, station: str, ref: str) -> RemoteStartSent | None:
        raw = await self._redis.get(redis_keys.remote_start(station, ref))
        if raw is None:
            return None
        try:
            return RemoteStartSent.from_dict(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return None

    async def save_remote(self, remote: RemoteStartSent) -> None:
        key = redis_keys.remote_start(remote.station, remote.ref)
        await self._redis.set(key, orjson.dumps(remote.to_dict()), ex=REMOTE_START_TTL_S)

    async def drop_remote(self, station: str, ref: str) -> None:
        await self._redis.delete(redis_keys.remote_start(station, ref))

    async def load_pending(self, station: str, conn: str, uid: str) -> PendingStart | None:
        raw = await self._redis.get(redis_keys.pending_call(station, conn, uid))
        if raw is None:
            return None
        try:
            return PendingStart.from_dict(orjson.loads(raw))
        except orjson.JSONDecodeError:
            return None

    async def save_pending(self, pending: PendingStart) -> None:
        key = redis_keys.pending_call(pending.station, pending.conn, pending.uid)
        await self._redis.set(key, orjson.dumps(pending.to_dict()), ex=PENDING_TTL_S)

    async def drop_pending(self, station: str, conn: str, uid: str) -> None:
        await self._redis.delete(redis_keys.pending_call(station, conn, uid))


def _parse_station(station: str, fields: dict[Any, Any]) -> StationState | None:
    return StationState.from_fields(station, fields) if fields else None


class RedisStationStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def load_station(self, station: str) -> StationState | None:
        key = redis_keys.station(station)
        if isinstance(self._redis, WriteBehindRedis):  # parsed once per batch, not per frame
            return await self._redis.get_hash_object(key, partial(_parse_station, station))
        return _parse_station(station, await self._redis.hgetall(key))

    async def save_station(self, state: StationState, changed: dict[str, str]) -> None:
        key = redis_keys.station(state.station)
        if isinstance(self._redis, WriteBehindRedis):
            # Every field at the flush (the same hash in the end), nothing converted per frame.
            self._redis.set_hash_object(key, state, StationState.to_fields)
            await self._redis.sadd(redis_keys.STATIONS, state.station)
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=changed)  # type: ignore[arg-type]
            pipe.sadd(redis_keys.STATIONS, state.station)
            await pipe.execute()

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(redis_keys.station_connectors(station), field)
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None:
        await self._redis.hset(
            redis_keys.station_connectors(status.station),
            connector_field(status),
            orjson.dumps(connector_json(status, received_ms)).decode(),
        )
