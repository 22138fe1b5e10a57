"""Tariffs and their assignments in Redis: what the operator API writes and the billing reads.

Layout (csms.infra.redis_keys): `tariff(id)` is a hash of version number -> JSON of that
immutable version (Tariff.to_dict), `TARIFFS` the set of ids, and `TARIFF_ASSIGNMENTS` a hash of
scope key -> JSON list of [valid_from_ms, tariff_id or null]. Validation and selection are the
pure functions of csms.domain.tariffs; this module only stores and fetches.

A version is never rewritten: an edit claims the next free version number with HSETNX, so two
concurrent edits get distinct numbers, and a session priced with version n keeps its price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from csms.domain.tariffs import (
    Tariff,
    assignment_key,
    at_version,
    parse_tariff,
    resolve_assignment,
    scope_keys,
    version_at,
)
from csms.infra import redis_keys
from csms.text import as_text

# Claiming a version or appending an assignment retries when a concurrent writer won the race;
# each lost race means another write succeeded, so this bound is only a guard against a bug.
_MAX_ATTEMPTS = 1000
# A scope key's history: [valid_from_ms, tariff_id or None] entries, oldest first. (An alias,
# because inside TariffStore the name `list` is the method.)
Entry = list[Any]
History = list[Entry]


class TariffExists(Exception):
    """A tariff with this id exists already (edit it: a new version)."""


class TariffNotFound(LookupError):
    """No tariff with this id."""


class TariffStore:
    """Tariff versions and assignments over one Redis client (decoded replies or bytes)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, body: Mapping[str, Any], now_ms: int) -> Tariff:
        """Version 1 of a new tariff; TariffError for bad input, TariffExists for a taken id."""
        tariff = _versioned(parse_tariff(body), 1, now_ms)
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hsetnx(redis_keys.tariff(tariff.id), "1", _dumps(tariff))
            # Idempotent: harmless when the id exists already.
            tx.sadd(redis_keys.TARIFFS, tariff.id)
            created, _ = await tx.execute()
        if not created:
            raise TariffExists(f"tariff {tariff.id!r} exists already")
        return tariff

    async def update(self, tariff_id: str, body: Mapping[str, Any], now_ms: int) -> Tariff:
        """A new immutable version n+1 (n = highest stored); the body's id is overridden."""
        parsed = parse_tariff(body, tariff_id=tariff_id)
        key = redis_keys.tariff(tariff_id)
        fields = await self._redis.hkeys(key)
        if not fields:
            raise TariffNotFound(f"no tariff {tariff_id!r}")
        version = max(int(as_text(f)) for f in fields) + 1
        for _ in range(_MAX_ATTEMPTS):
            tariff = _versioned(parsed, version, now_ms)
            if await self._redis.hsetnx(key, str(version), _dumps(tariff)):
                return tariff
            version += 1  # a concurrent edit took this number
        raise RuntimeError(f"could not claim a version of tariff {tariff_id!r}")

    async def versions(self, tariff_id: str) -> list[Tariff]:
        """Every version, oldest first; [] for an unknown id."""
        raw: Mapping[Any, Any] = await self._redis.hgetall(redis_keys.tariff(tariff_id))
        return _parse_versions(raw)

    async def get(self, tariff_id: str, version: int | None = None) -> Tariff | None:
        """One version, or the latest when `version` is None."""
        if version is None:
            versions = await self.versions(tariff_id)
            return versions[-1] if versions else None
        raw = await self._redis.hget(redis_keys.tariff(tariff_id), str(version))
        return None if raw is None else _loads(raw)

    async def list(self) -> list[Tariff]:
        """The latest version of every tariff, by id."""
        ids = sorted(as_text(m) for m in await self._redis.smembers(redis_keys.TARIFFS))
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for tariff_id in ids:
                pipe.hgetall(redis_keys.tariff(tariff_id))
            rows: list[Mapping[Any, Any]] = await pipe.execute()
        latest = [_parse_versions(row) for row in rows]
        return [versions[-1] for versions in latest if versions]

    async def assign(
        self,
        scope: str,
        *,
        station: str = "",
        evse: int = 0,
        group: str = "",
        tariff_id: str | None,
        now_ms: int,
        valid_from_ms: int = 0,
    ) -> dict[str, Any]:
        """Assign `tariff_id` (None: unassign) to a scope from max(now, valid_from) on; returns
        {"key", "history"}. TariffError for an incomplete scope, TariffNotFound for an unknown id.
        The past is never rewritten: a session started earlier keeps its tariff."""
        key = assignment_key(scope, station=station, evse=evse, group=group)
        if tariff_id is not None and not await self._redis.exists(redis_keys.tariff(tariff_id)):
            raise TariffNotFound(f"no tariff {tariff_id!r}")
        entry = [max(now_ms, valid_from_ms), tariff_id]
        history = await self._append(key, entry)
        return {"key": key, "history": history}

    async def assignments(self) -> dict[str, History]:
        """Every scope key's history of [valid_from_ms, tariff_id or None]."""
        raw: Mapping[Any, Any] = await self._redis.hgetall(redis_keys.TARIFF_ASSIGNMENTS)
        return {as_text(k): orjson.loads(v) for k, v in raw.items()}

    async def resolve(
        self, station: str, evse: int, group: str | None, at_ms: int
    ) -> Tariff | None:
        """The tariff version that prices a session of this station/EVSE/id-token group started
        at `at_ms` (two round trips: the assignments, then the chosen tariff's versions)."""
        found = await self.resolve_with_key(station, evse, group, at_ms)
        return None if found is None else found[1]

    async def resolve_with_key(
        self, station: str, evse: int, group: str | None, at_ms: int
    ) -> tuple[str, Tariff] | None:
        """As `resolve`, with the assignment key that decided (e.g. "evse:CP-1:2")."""
        history = await self.assignments()
        keys = scope_keys(station, evse, group)
        tariff_id = resolve_assignment(history, keys, at_ms)
        if tariff_id is None:
            return None
        tariff = version_at(await self.versions(tariff_id), at_ms)
        if tariff is None:
            return None
        # Which key decided, for the operator: the most specific one that alone gives this id.
        decided = next(
            (k for k in keys if resolve_assignment(history, [k], at_ms) == tariff_id), keys[-1]
        )
        return decided, tariff

    async def _append(self, key: str, entry: Entry) -> History:
        """Append to one scope's history under WATCH: a concurrent append retries, never lost."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    await pipe.watch(redis_keys.TARIFF_ASSIGNMENTS)
                    raw = await pipe.hget(redis_keys.TARIFF_ASSIGNMENTS, key)
                    history: History = [] if raw is None else orjson.loads(raw)
                    # Stable sort: of entries valid from the same instant, the later wins.
                    history = sorted([*history, entry], key=lambda e: int(e[0]))
                    pipe.multi()  # type: ignore[no-untyped-call]  # untyped in redis-py
                    pipe.hset(redis_keys.TARIFF_ASSIGNMENTS, key, orjson.dumps(history))
                    await pipe.execute()
                    return history
                except WatchError:
                    continue
        raise RuntimeError(f"could not append to tariff assignment {key!r}")


def _versioned(tariff: Tariff, version: int, now_ms: int) -> Tariff:
    """Numbered, and valid from now or the later `valid_from_ms` asked for (never the past)."""
    return at_version(tariff, version, max(now_ms, tariff.valid_from_ms))


def _dumps(tariff: Tariff) -> bytes:
    return orjson.dumps(tariff.to_dict())


def _loads(raw: bytes | str) -> Tariff:
    return parse_tariff(orjson.loads(raw))


def _parse_versions(raw: Mapping[Any, Any]) -> list[Tariff]:
    return sorted((_loads(v) for v in raw.values()), key=lambda t: t.version)
