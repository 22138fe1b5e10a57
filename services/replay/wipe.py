"""Delete the processors' read model from Redis, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from csms.infra.redis_keys import READ_MODEL_PATTERNS


async def read_model_keys(redis: Redis, patterns: Iterable[str] = READ_MODEL_PATTERNS) -> int:
    """How many keys the patterns match now (SCAN: never blocks Redis)."""
    count = 0
    for pattern in patterns:
        async for _ in redis.scan_iter(match=pattern, count=1_000):
            count += 1
    return count


async def wipe_read_model(
    redis: Redis, patterns: Iterable[str] = READ_MODEL_PATTERNS, *, batch: int = 1_000
) -> int:
    """UNLINK every key matching the patterns, in batches (UNLINK frees memory off Redis's main
    thread; SCAN walks the keyspace without blocking it); returns the keys removed."""
    removed = 0
    for pattern in patterns:
        found: list[str] = []
        async for key in redis.scan_iter(match=pattern, count=batch):
            found.append(key)
            if len(found) >= batch:
                removed += await redis.unlink(*found)
                found = []
        if found:
            removed += await redis.unlink(*found)
    return removed
