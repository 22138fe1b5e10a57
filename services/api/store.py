"""Reads of the Redis read models (the I/O edge of the API).

Every list read is one round trip for the keys and one pipelined round trip for their values,
never one round trip per item. Keys are named only through `csms.infra.redis_keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis

from csms.domain.transactions import tx_key
from csms.infra import redis_keys as keys
from csms.text import as_text, text_fields
from services.api.schemas import StationDetail, StationSummary, TransactionView
from services.api.views import SUMMARY_FIELDS, station_detail, station_summary, transaction_view


def _str_map(raw: dict[Any, Any]) -> dict[str, str]:
    return {as_text(k): as_text(v) for k, v in raw.items()}


class ReadModelStore:
    """The API's view of Redis; holds no state besides the client."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def ping(self) -> None:
        await self._redis.ping()

    async def station_ids(self) -> list[str]:
        """Every known station id, sorted: the stable order of the station list."""
        return sorted(as_text(m) for m in await self._redis.smembers(keys.STATIONS))

    async def station_summaries(self, station_ids: Sequence[str]) -> list[StationSummary | None]:
        if not station_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for station_id in station_ids:
                pipe.hmget(keys.station(station_id), list(SUMMARY_FIELDS))
            rows: list[list[bytes | str | None]] = await pipe.execute()
        return [
            station_summary(station_id, text_fields(SUMMARY_FIELDS, row))
            for station_id, row in zip(station_ids, rows, strict=True)
        ]

    async def station(self, station_id: str) -> StationDetail | None:
        """The station with its connector tree; None if the network has never seen it."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.station(station_id))
            pipe.hgetall(keys.station_connectors(station_id))
            pipe.sismember(keys.STATIONS, station_id)
            fields, connectors, member = await pipe.execute()
        if not fields and not connectors and not member:
            return None
        return station_detail(station_id, _str_map(fields), _str_map(connectors))

    async def device_model(self, station_id: str) -> tuple[str | None, dict[str, str], bool]:
        """(the stored device model JSON, the live station hash, whether the network has seen
        the station), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.device_model(station_id))
            pipe.hgetall(keys.station(station_id))
            pipe.sismember(keys.STATIONS, station_id)
            raw, fields, member = await pipe.execute()
        seen = bool(raw is not None or fields or member)
        return (None if raw is None else as_text(raw)), _str_map(fields), seen

    @staticmethod
    def _tx_index(station_id: str | None) -> str:
        return keys.TRANSACTIONS if station_id is None else keys.station_transactions(station_id)

    async def transaction_keys(self, station_id: str | None, start: int, count: int) -> list[str]:
        """`count` transaction keys from position `start`, newest first (by start time)."""
        if count <= 0:
            return []
        index = self._tx_index(station_id)
        # Without withscores, ZREVRANGE returns bare members (the stub's union covers both forms).
        members = cast(
            "list[bytes | str]", await self._redis.zrevrange(index, start, start + count - 1)
        )
        return [as_text(m) for m in members]

    async def transaction_count(self, station_id: str | None) -> int:
        return int(await self._redis.zcard(self._tx_index(station_id)))

    async def transactions(self, tx_keys: Sequence[str]) -> list[TransactionView | None]:
        """The transactions of `tx_keys`, in order; None where the JSON is missing or bad."""
        if not tx_keys:
            return []
        raws = await self._redis.mget([keys.transaction(k) for k in tx_keys])
        return [None if raw is None else transaction_view(as_text(raw)) for raw in raws]

    async def transaction(self, station_id: str, transaction_id: str) -> TransactionView | None:
        raw = await self._redis.get(keys.transaction(tx_key(station_id, transaction_id)))
        return None if raw is None else transaction_view(as_text(raw))
