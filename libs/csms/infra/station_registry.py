"""The station registry in Redis: admission status and hashed Basic-auth password per station.

Written by operators (API, `csms station …`) and by the gateway when admission is `open`;
read by the gateway at the handshake and for BootNotification answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.infra import redis_keys
from csms.infra.redis_batch import RedisBatcher
from csms.security.passwords import hash_password, verify_password
from csms.text import as_text

ACCEPTED = "Accepted"
PENDING = "Pending"
REJECTED = "Rejected"
STATUSES = (ACCEPTED, PENDING, REJECTED)


@dataclass(frozen=True)
class Registration:
    station: str
    status: str
    password_hash: str = ""
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    def password_matches(self, password: str) -> bool:
        return self.has_password and verify_password(password, self.password_hash)


class StationRegistry:
    def __init__(
        self, redis: Redis, clock: Clock = system_clock, batcher: RedisBatcher | None = None
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._batcher = batcher  # the gateway's: handshakes read registrations together

    async def get(self, station: str) -> Registration | None:
        key = redis_keys.registration(station)
        if self._batcher is None:
            raw = await self._redis.hgetall(key)
        else:
            raw = _as_dict(await self._batcher.call("HGETALL", key))
        return _registration(station, raw) if raw else None

    async def statuses(self, stations: Sequence[str]) -> list[str | None]:
        """The registry status of each station (None when not registered), one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for station in stations:
                pipe.hget(redis_keys.registration(station), "status")
            found: list[Any] = await pipe.execute()
        return [None if status is None else as_text(status) for status in found]

    async def registered_ids(self) -> set[str]:
        """Every station an operator registered (listed even before it first connects)."""
        return {as_text(m) for m in await self._redis.smembers(redis_keys.REGISTERED_STATIONS)}

    async def register_if_unknown(self, station: str, status: str) -> Registration:
        """Register a station seen for the first time (atomic: never overwrites an operator's
        decision); returns the registration in force."""
        key = redis_keys.registration(station)
        now = str(self._clock())
        # One MULTI/EXEC: concurrent boots of one station (reconnect storms) all see the same
        # registration, and nothing can slip between the write and the read.
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hsetnx(key, "status", _checked(status))
            tx.hsetnx(key, "created_ms", now)
            tx.hsetnx(key, "updated_ms", now)
            tx.hgetall(key)
            *_, raw = await tx.execute()
        return _registration(station, raw)

    async def set_status(self, station: str, status: str) -> None:
        key = redis_keys.registration(station)
        now = str(self._clock())
        await self._redis.hsetnx(key, "created_ms", now)
        await self._redis.hset(key, mapping={"status": _checked(status), "updated_ms": now})
        await self._redis.sadd(redis_keys.REGISTERED_STATIONS, station)  # listed before it connects

    async def set_password(self, station: str, password: str) -> None:
        """Store the hash of a new password (raises WeakPassword outside 16-40 characters)."""
        key = redis_keys.registration(station)
        now = str(self._clock())
        await self._redis.hsetnx(key, "created_ms", now)
        await self._redis.hsetnx(key, "status", ACCEPTED)
        await self._redis.hset(
            key, mapping={"password_hash": hash_password(password), "updated_ms": now}
        )
        await self._redis.sadd(redis_keys.REGISTERED_STATIONS, station)


def _as_dict(reply: Any) -> dict[Any, Any]:
    """An HGETALL reply as the client parsed it: a mapping, or the flat field/value list."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[0::2], reply[1::2], strict=True)) if reply else {}


def _registration(station: str, raw: dict[Any, Any]) -> Registration:
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    return Registration(
        station=station,
        status=fields.get("status", PENDING),
        password_hash=fields.get("password_hash", ""),
        created_ms=int(fields.get("created_ms", "0") or 0),
        updated_ms=int(fields.get("updated_ms", "0") or 0),
    )


def _checked(status: str) -> str:
    if status not in STATUSES:
        raise ValueError(f"registration status must be one of {STATUSES}, got {status!r}")
    return status
