"""Redis client factory (asyncio), shared by every service."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from csms.settings import Settings

# A call should fail fast when Redis is away (the API answers 503, the gateway refuses to
# promise) rather than hang on redis-py's default of ten retries; two short retries still ride
# over a blip (a Redis restart, a failover).
REDIS_SOCKET_TIMEOUT_S = 2.0
REDIS_RETRIES = 2


# Connections per process. redis-py's default pool raises "Too many connections" past its limit
# (seen at 100 simultaneous station handshakes); a blocking pool makes a burst wait for a free
# connection instead, and Redis pipelines requests on each one.
REDIS_MAX_CONNECTIONS = 64


def make_redis(settings: Settings) -> Redis:
    """A pooled client with decoded text responses (every value we store is text)."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_SOCKET_TIMEOUT_S,
        decode_responses=True,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_S,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), REDIS_RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )
    client: Redis = Redis.from_pool(pool)  # the client owns the pool: aclose() closes both
    return client
