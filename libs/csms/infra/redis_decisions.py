"""The gateway's decisions, read from the Redis read models (see csms.handlers.Decisions)."""

from __future__ import annotations

import redis.asyncio as aioredis

from csms.handlers import BootDecision
from csms.infra import redis_keys

# Open admission for this foundation: a token nobody has blocked is accepted. The id-token read
# model (operator API) writes csms:idtoken:<token> with a status to refuse it.
DEFAULT_TOKEN_STATUS = "Accepted"  # noqa: S105 - an OCPP status, not a secret


class RedisDecisions:
    def __init__(self, redis: aioredis.Redis, *, heartbeat_interval_s: int) -> None:
        self._redis = redis
        self.heartbeat_interval_s = heartbeat_interval_s

    async def boot(self, station: str) -> BootDecision:
        return BootDecision("Accepted", self.heartbeat_interval_s)

    async def next_transaction_id(self) -> int:
        # INCR is atomic across every gateway; 1.6 transactionIds are 32-bit signed integers.
        return int(await self._redis.incr(redis_keys.TX16_SEQUENCE))

    async def authorize(self, id_token: str) -> str:
        status = await self._redis.hget(redis_keys.id_token(id_token), "status")
        return str(status) if status else DEFAULT_TOKEN_STATUS
