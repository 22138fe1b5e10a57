"""The processors' Redis stores: the read models of csms.readmodels (their keys, codecs and Redis
implementations) on the Redis client an agent writes through.

That client is Redis itself, an agent's write-behind copy (live: csms.projections.write_behind,
which decodes a key's object once per batch and encodes it once at the flush) or the replay's
in-memory Redis; both doubles speak the part of redis-py the read models use, so the read models
take them as `Redis`.
"""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from csms.infra.memory_redis import MemoryRedis
from csms.projections.write_behind import WriteBehindRedis
from csms.readmodels.stations import RedisStations
from csms.readmodels.transactions import RedisTransactions

# What the stores write through: Redis itself, an agent's write-behind copy (live), or the
# replay's in-memory Redis.
RedisClient = Redis | WriteBehindRedis | MemoryRedis


def as_redis(redis: RedisClient) -> Redis:
    """The client as the read models take it (the doubles implement the commands they use)."""
    return cast(Redis, redis)


class RedisTransactionStore(RedisTransactions):
    """csms.projections.transactions.TransactionStore on an agent's client."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(as_redis(redis))


class RedisStationStore(RedisStations):
    """csms.projections.status.StationStore on an agent's client."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(as_redis(redis))
