"""Id tokens in Redis: the hash the gateway's authorization reads (`redis_keys.id_token`:
status, group, expiry — see csms.infra.redis_decisions) plus the API's own fields (type,
created_ms, updated_ms), and a sorted set (`ID_TOKENS`) that lists them in token order.

A write is visible to the next Authorize / TransactionEvent at once: there is no other copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.infra import redis_keys
from csms.infra.redis_decisions import parse_expiry
from csms.text import as_text, text_fields
from services.api.schemas import IdTokenView
from services.api.views import iso_ms, parse_ms

# Create only when absent, and index it in the same step.
_CREATE = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV, 2))
redis.call('zadd', KEYS[2], 0, ARGV[1])
return 1
"""
# Update only when present: ARGV[1] = number of field/value pairs to set, then the pairs,
# then the fields to remove.
_UPDATE = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
local n = tonumber(ARGV[1])
for i = 2, 2 * n, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 2 * n + 2, #ARGV do redis.call('hdel', KEYS[1], ARGV[i]) end
return 1
"""
_FIELDS = ("status", "type", "group", "expiry", "created_ms", "updated_ms")


def expiry_text(moment: datetime) -> str:
    """The stored form of an expiry: ISO 8601 UTC, ms precision (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = iso_ms(int(moment.timestamp() * 1000))
    if text is None:
        raise ValueError("expiry must be after 1970-01-01")
    return text


def id_token_view(token: str, fields: Mapping[str, str | None]) -> IdTokenView:
    expiry = fields.get("expiry")
    return IdTokenView(
        id_token=token,
        type=fields.get("type") or None,
        group_id=fields.get("group") or None,
        expiry=iso_ms(parse_expiry(expiry)) if expiry else None,
        status=fields.get("status") or "Accepted",
        created=iso_ms(parse_ms(fields.get("created_ms"))),
        updated=iso_ms(parse_ms(fields.get("updated_ms"))),
    )


class IdTokenStore:
    def __init__(self, redis: Redis, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock

    async def create(self, token: str, fields: Mapping[str, str]) -> IdTokenView | None:
        """Store a new token; None when it exists already."""
        now = str(self._clock())
        stored = {**fields, "created_ms": now, "updated_ms": now}
        args = [token, *(part for pair in stored.items() for part in pair)]
        keys = [redis_keys.id_token(token), redis_keys.ID_TOKENS]
        created = await self._redis.eval(_CREATE, len(keys), *keys, *args)
        return id_token_view(token, stored) if created else None

    async def update(
        self, token: str, changes: Mapping[str, str], removed: Sequence[str]
    ) -> IdTokenView | None:
        """Change fields of an existing token; None when there is no such token."""
        to_set = {**changes, "updated_ms": str(self._clock())}
        args = [str(len(to_set)), *(p for pair in to_set.items() for p in pair), *removed]
        updated = await self._redis.eval(_UPDATE, 1, redis_keys.id_token(token), *args)
        return await self.get(token) if updated else None

    async def get(self, token: str) -> IdTokenView | None:
        raw: Mapping[Any, Any] = await self._redis.hgetall(redis_keys.id_token(token))
        if not raw:
            return None
        return id_token_view(token, {as_text(k): as_text(v) for k, v in raw.items()})

    async def tokens(self, start: int, count: int) -> list[str]:
        """`count` tokens from position `start`, in token order."""
        if count <= 0:
            return []
        members = cast(
            "list[Any]", await self._redis.zrange(redis_keys.ID_TOKENS, start, start + count - 1)
        )
        return [as_text(m) for m in members]

    async def count(self) -> int:
        return int(await self._redis.zcard(redis_keys.ID_TOKENS))

    async def many(self, tokens: Sequence[str]) -> list[IdTokenView | None]:
        """The tokens' views in order; None where the hash vanished (one round trip)."""
        if not tokens:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for token in tokens:
                pipe.hmget(redis_keys.id_token(token), list(_FIELDS))
            rows: list[list[Any]] = await pipe.execute()
        views: list[IdTokenView | None] = []
        for token, row in zip(tokens, rows, strict=True):
            fields = text_fields(_FIELDS, row)
            views.append(id_token_view(token, fields) if any(row) else None)
        return views
