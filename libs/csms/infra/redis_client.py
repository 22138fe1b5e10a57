"""Redis client factory (asyncio), shared by every service."""

from __future__ import annotations

from redis.asyncio import Redis
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


def make_redis(settings: Settings) -> Redis:
    """A pooled client with decoded text responses (every value we store is text)."""
    client: Redis = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_S,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), REDIS_RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )
    return client
