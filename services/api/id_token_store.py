"""Id tokens for the API: the id tokens read model (csms.readmodels.id_tokens - the hashes the
gateway's authorization reads, and their listing index) with its records shown as IdTokenView.

A write is visible to the next Authorize / TransactionEvent at once: there is no other copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.readmodels.id_tokens import IdTokenChange, IdTokenRecord, IdTokens, RedisIdTokens
from services.api.schemas import IdTokenView
from services.api.views import iso_ms


def expiry_text(moment: datetime) -> str:
    """The stored form of an expiry: ISO 8601 UTC, ms precision (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = iso_ms(int(moment.timestamp() * 1000))
    if text is None:
        raise ValueError("expiry must be after 1970-01-01")
    return text


def id_token_view(record: IdTokenRecord) -> IdTokenView:
    return IdTokenView(
        id_token=record.token,
        type=record.type or None,
        group_id=record.group or None,
        expiry=iso_ms(record.expiry_ms),
        status=record.status or "Accepted",
        created=iso_ms(record.created_ms),
        updated=iso_ms(record.updated_ms),
    )


def _view(record: IdTokenRecord | None) -> IdTokenView | None:
    return None if record is None else id_token_view(record)


class IdTokenStore:
    def __init__(self, redis: Redis, clock: Clock = system_clock) -> None:
        self._tokens: IdTokens = RedisIdTokens(redis, clock)

    async def create(self, record: IdTokenRecord) -> IdTokenView | None:
        """Store a new token; None when it exists already."""
        return _view(await self._tokens.create(record))

    async def update(self, token: str, change: IdTokenChange) -> IdTokenView | None:
        """Change fields of an existing token; None when there is no such token."""
        return _view(await self._tokens.update(token, change))

    async def get(self, token: str) -> IdTokenView | None:
        return _view(await self._tokens.get(token))

    async def tokens(self, start: int, count: int) -> list[str]:
        """`count` tokens from position `start`, in token order."""
        return await self._tokens.tokens(start, count)

    async def count(self) -> int:
        return await self._tokens.count()

    async def many(self, tokens: Sequence[str]) -> list[IdTokenView | None]:
        """The tokens' views in order; None where the hash vanished (one round trip)."""
        return [_view(record) for record in await self._tokens.many(tokens)]
