"""One live connection per station, across every gateway process.

Locally, `Connections` maps station → session; a newer session of the same station replaces the
older one, which is closed with 1008 (policy violation: one connection per station is the CSMS's
policy, and 1008 is the RFC 6455 code for "violates its policy"; it is not 1001/1012, which tell a
station to reconnect — the replaced side must not fight back, the newer socket is the station).

Across gateways, Redis holds the route: `station_epoch` (INCR at each connect) and `station_route`
{gateway, conn, epoch, since_ms, proto}, both written by one Lua script so the route always
names the highest epoch. When the previous route names another gateway, the new gateway PUBLISHes
{station, epoch} on that gateway's eviction channel (`csms:gw:<gateway>:evict`). Pub/sub, not a
stream: the signal only matters to a gateway that is alive right now and holds the socket; a dead
gateway's sockets are dead anyway, and a gateway that missed a message (Redis reconnect) catches
up with `sweep()`, which compares every local session's epoch with Redis' route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from csms.clock import Clock, system_clock
from csms.infra import redis_keys
from csms.infra.redis_batch import RedisBatcher, Script

log = logging.getLogger(__name__)

REPLACED_CODE = 1008
REPLACED_REASON = "replaced by a newer connection of this station"

_CLAIM = Script("""
local epoch = redis.call('INCR', KEYS[1])
local old = redis.call('HMGET', KEYS[2], 'gateway', 'conn')
redis.call('HSET', KEYS[2], 'gateway', ARGV[1], 'conn', ARGV[2],
           'epoch', epoch, 'since_ms', ARGV[3], 'proto', ARGV[4])
return {epoch, old[1] or '', old[2] or ''}
""")

_RELEASE = Script("""
if redis.call('HGET', KEYS[1], 'conn') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


class Closable(Protocol):
    station: str
    conn: str
    epoch: int
    proto: str  # the connection's OCPP version (ocpp1.6, ocpp2.0.1, ocpp2.1)

    async def close(self, code: int, reason: str) -> None: ...


class Connections:
    """The sessions of this gateway, plus (optionally) the cluster-wide route in Redis."""

    def __init__(
        self,
        gateway_id: str,
        redis: Redis | None = None,
        clock: Clock = system_clock,
        batcher: RedisBatcher | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self._redis = redis
        self._clock = clock
        self._sessions: dict[str, Closable] = {}
        # Claims and releases of concurrent connections go to Redis together (a ramp, a storm).
        self._batcher = batcher if batcher is not None or redis is None else RedisBatcher(redis)
        self._local_epoch = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[Closable]:
        return list(self._sessions.values())

    def get(self, station: str) -> Closable | None:
        return self._sessions.get(station)

    async def claim(self, session: Closable) -> int:
        """Make `session` the station's live connection; close or evict the one it replaces."""
        epoch, old_gateway = await self._take_route(session)
        previous = self._sessions.get(session.station)
        self._sessions[session.station] = session
        if previous is not None and previous is not session:
            await previous.close(REPLACED_CODE, REPLACED_REASON)
        if self._redis is not None and old_gateway and old_gateway != self.gateway_id:
            message = orjson.dumps({"station": session.station, "epoch": epoch})
            await self._redis.publish(redis_keys.evict_channel(old_gateway), message)
        return epoch

    async def _take_route(self, session: Closable) -> tuple[int, str]:
        if self._batcher is None:
            self._local_epoch += 1
            return self._local_epoch, ""
        keys = [
            redis_keys.station_epoch(session.station),
            redis_keys.station_route(session.station),
        ]
        args = [self.gateway_id, session.conn, str(self._clock()), session.proto]
        try:
            epoch, old_gateway, _old_conn = await self._batcher.script(_CLAIM, keys, args)
        except RedisError:
            # Serve the station anyway (its frames still reach Kafka); the route is taken at its
            # next connection, and the sweep of the gateway that has it settles any duplicate.
            log.warning("route of %s not recorded: Redis unavailable", session.station)
            return 0, ""
        return int(epoch), str(old_gateway)

    async def release(self, session: Closable) -> None:
        """Forget a closed session; drop the route only if it still names this connection."""
        if self._sessions.get(session.station) is session:
            del self._sessions[session.station]
            if self._batcher is not None:
                key = redis_keys.station_route(session.station)
                try:
                    await self._batcher.script(_RELEASE, [key], [session.conn])
                except RedisError:
                    log.warning("route of %s not released: Redis unavailable", session.station)

    async def evict(self, station: str, epoch: int) -> None:
        """Close the local connection of `station` if a newer epoch exists elsewhere."""
        session = self._sessions.get(station)
        if session is not None and session.epoch < epoch:
            await session.close(REPLACED_CODE, REPLACED_REASON)

    async def sweep(self) -> int:
        """Close every local session that Redis' route says is no longer the newest."""
        if self._redis is None or not self._sessions:
            return 0
        sessions = self.sessions()
        async with self._redis.pipeline(transaction=False) as pipe:
            for s in sessions:
                pipe.hget(redis_keys.station_route(s.station), "epoch")
            epochs = await pipe.execute()
        stale = [s for s, e in zip(sessions, epochs, strict=True) if e and int(e) > s.epoch]
        for s in stale:
            await s.close(REPLACED_CODE, REPLACED_REASON)
        return len(stale)

    async def listen(self, sweep_every_s: float = 30.0) -> None:
        """Follow this gateway's eviction channel until cancelled (resubscribe + sweep on
        errors, and sweep periodically, so a missed message only delays an eviction)."""
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(redis_keys.evict_channel(self.gateway_id))
                    await self.sweep()
                    await self._follow(pubsub, sweep_every_s)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: retry, never kill the gateway
                log.warning("eviction channel lost; resubscribing", exc_info=True)
                await asyncio.sleep(1.0)

    async def _follow(self, pubsub: Any, sweep_every_s: float) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + sweep_every_s
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    data = orjson.loads(message["data"])
                    await self.evict(str(data["station"]), int(data["epoch"]))
            if loop.time() >= next_sweep:
                await self.sweep()
                next_sweep = loop.time() + sweep_every_s
