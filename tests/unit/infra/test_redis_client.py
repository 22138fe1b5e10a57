"""The shared Redis client under a burst (real Redis, DB 10)."""

import asyncio

from csms.infra.redis_client import REDIS_MAX_CONNECTIONS, make_redis
from csms.settings import Settings


async def test_a_burst_larger_than_the_pool_waits_instead_of_failing() -> None:
    # 100 simultaneous station handshakes once failed with "Too many connections".
    client = make_redis(Settings(redis_url="redis://127.0.0.1:6379/10"))
    try:
        burst = 4 * REDIS_MAX_CONNECTIONS
        results = await asyncio.gather(
            *(client.hgetall(f"csms:test:burst:{i}") for i in range(burst)),
            return_exceptions=True,
        )
        assert [r for r in results if isinstance(r, Exception)] == []
        assert results == [{}] * burst
        assert len(client.connection_pool._in_use_connections) == 0  # all returned
    finally:
        await client.aclose()
