"""The tariffs read model: tariff versions and their assignments, what operators write and the
billing and the gateways read.

Keys (writer: the operator API; readers: the API, the billing's and the gateway's lookups
(csms.infra.billing_lookups), the gateway's 2.1 Authorize (a group's tariff)):
* `csms:tariffs` set: every tariff id.
* `csms:tariff:v:<id>` hash: version number -> JSON of that immutable version (Tariff.to_dict).
* `csms:tariff:assignments` hash: scope key ("default", "station:<id>", "evse:<id>:<n>",
  "group:<g>", csms.domain.tariffs.assignment_key) -> JSON list of [valid_from_ms, tariff_id or
  null], oldest first.

Operator configuration, never wiped by a replay. A version is never rewritten: an edit claims the
next free version number (HSETNX), so two concurrent edits get distinct numbers and a session
priced with version n keeps its price. Validation and selection are the pure functions of
csms.domain.tariffs; this module stores, fetches and decodes.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from typing import Any, Protocol

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
from csms.readmodels.base import PREFIX, json_object
from csms.text import as_text

log = logging.getLogger(__name__)

TARIFFS_KEY = f"{PREFIX}:tariffs"
ASSIGNMENTS_KEY = f"{PREFIX}:tariff:assignments"


def tariff_key(tariff_id: str) -> str:
    """Hash: version number -> JSON of that immutable version."""
    return f"{PREFIX}:tariff:v:{tariff_id}"


# Claiming a version or appending an assignment retries when a concurrent writer won the race;
# each lost race means another write succeeded, so this bound is only a guard against a bug.
_MAX_ATTEMPTS = 1000
# A scope key's history: [valid_from_ms, tariff_id or None] entries, oldest first. (Aliases,
# because inside the stores the name `list` is a method.)
Entry = list[Any]
History = list[Entry]


class TariffExists(Exception):
    """A tariff with this id exists already (edit it: a new version)."""


class TariffNotFound(LookupError):
    """No tariff with this id."""


# --- codec ---------------------------------------------------------------------------------------


def encode_tariff(tariff: Tariff) -> bytes:
    return orjson.dumps(tariff.to_dict())


def decode_tariff(raw: str | bytes) -> Tariff | None:
    """A stored version; None (logged) when unreadable."""
    data = json_object(raw, "tariff version")
    if data is None:
        return None
    try:
        return parse_tariff(data)
    except (ValueError, TypeError):  # TariffError is a ValueError
        log.warning("unreadable tariff version %r: ignored", data.get("id"))
        return None


def decode_versions(fields: Mapping[Any, Any]) -> list[Tariff]:
    """A tariff hash's readable versions, oldest first."""
    found = (decode_tariff(raw) for raw in fields.values())
    return sorted((t for t in found if t is not None), key=lambda t: t.version)


def encode_history(history: History) -> bytes:
    return orjson.dumps(history)


def decode_history(key: str, raw: str | bytes) -> History | None:
    """One scope's assignment history; None (logged) when unreadable."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, list) and all(_entry(e) for e in value):
        return value
    log.warning("unreadable tariff assignment %r: ignored", key)
    return None


def _entry(e: object) -> bool:
    if not isinstance(e, list) or len(e) != 2:
        return False
    valid_from, tariff_id = e
    return type(valid_from) is int and (tariff_id is None or isinstance(tariff_id, str))


def decode_assignments(fields: Mapping[Any, Any]) -> dict[str, History]:
    """Every readable scope history of the assignments hash."""
    out: dict[str, History] = {}
    for name, raw in fields.items():
        key = as_text(name)
        history = decode_history(key, raw)
        if history is not None:
            out[key] = history
    return out


# --- the contract --------------------------------------------------------------------------------


class Tariffs(Protocol):
    async def create(self, body: Mapping[str, Any], now_ms: int) -> Tariff:
        """Version 1 of a new tariff; TariffError for bad input, TariffExists for a taken id."""
        ...

    async def update(self, tariff_id: str, body: Mapping[str, Any], now_ms: int) -> Tariff:
        """A new immutable version n+1 (n = highest stored); the body's id is overridden."""
        ...

    async def versions(self, tariff_id: str) -> list[Tariff]:
        """Every version, oldest first; [] for an unknown id."""
        ...

    async def get(self, tariff_id: str, version: int | None = None) -> Tariff | None:
        """One version, or the latest when `version` is None."""
        ...

    async def list(self) -> list[Tariff]:
        """The latest version of every tariff, by id."""
        ...

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
        {"key", "history"}. The past is never rewritten: a session started earlier keeps its
        tariff."""
        ...

    async def assignments(self) -> dict[str, History]: ...

    async def history(self, key: str) -> History:
        """One scope key's assignment history ([] when none or unreadable)."""
        ...

    async def resolve(
        self, station: str, evse: int, group: str | None, at_ms: int
    ) -> Tariff | None: ...

    async def resolve_with_key(
        self, station: str, evse: int, group: str | None, at_ms: int
    ) -> tuple[str, Tariff] | None: ...


class _TariffBook(abc.ABC):
    """The rules of Tariffs over a few storage steps the Redis and in-memory stores provide."""

    async def create(self, body: Mapping[str, Any], now_ms: int) -> Tariff:
        tariff = _versioned(parse_tariff(body), 1, now_ms)
        if not await self._add_new(tariff):
            raise TariffExists(f"tariff {tariff.id!r} exists already")
        return tariff

    async def update(self, tariff_id: str, body: Mapping[str, Any], now_ms: int) -> Tariff:
        parsed = parse_tariff(body, tariff_id=tariff_id)
        highest = await self._highest_version(tariff_id)
        if highest is None:
            raise TariffNotFound(f"no tariff {tariff_id!r}")
        version = highest + 1
        for _ in range(_MAX_ATTEMPTS):
            tariff = _versioned(parsed, version, now_ms)
            if await self._claim(tariff):
                return tariff
            version += 1  # a concurrent edit took this number
        raise RuntimeError(f"could not claim a version of tariff {tariff_id!r}")

    async def get(self, tariff_id: str, version: int | None = None) -> Tariff | None:
        if version is None:
            versions = await self.versions(tariff_id)
            return versions[-1] if versions else None
        return await self._version(tariff_id, version)

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
        key = assignment_key(scope, station=station, evse=evse, group=group)
        if tariff_id is not None and not await self._exists(tariff_id):
            raise TariffNotFound(f"no tariff {tariff_id!r}")
        history = await self._append(key, [max(now_ms, valid_from_ms), tariff_id])
        return {"key": key, "history": history}

    async def resolve(
        self, station: str, evse: int, group: str | None, at_ms: int
    ) -> Tariff | None:
        """The tariff version that prices a session of this station/EVSE/id-token group started
        at `at_ms` (two reads: the assignments, then the chosen tariff's versions)."""
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

    @abc.abstractmethod
    async def versions(self, tariff_id: str) -> list[Tariff]: ...

    @abc.abstractmethod
    async def assignments(self) -> dict[str, History]: ...

    @abc.abstractmethod
    async def _add_new(self, tariff: Tariff) -> bool:
        """Store version 1 and list the id; False when the id is taken."""

    @abc.abstractmethod
    async def _highest_version(self, tariff_id: str) -> int | None: ...

    @abc.abstractmethod
    async def _claim(self, tariff: Tariff) -> bool:
        """Store this version unless its number is taken."""

    @abc.abstractmethod
    async def _version(self, tariff_id: str, version: int) -> Tariff | None: ...

    @abc.abstractmethod
    async def _exists(self, tariff_id: str) -> bool: ...

    @abc.abstractmethod
    async def _append(self, key: str, entry: Entry) -> History:
        """Add an entry to one scope's history, atomically; the new history."""


def _versioned(tariff: Tariff, version: int, now_ms: int) -> Tariff:
    """Numbered, and valid from now or the later `valid_from_ms` asked for (never the past)."""
    return at_version(tariff, version, max(now_ms, tariff.valid_from_ms))


def _appended(history: History | None, entry: Entry) -> History:
    # Stable sort: of entries valid from the same instant, the later wins.
    return sorted([*(history or []), entry], key=lambda e: int(e[0]))


# --- Redis ---------------------------------------------------------------------------------------


class RedisTariffs(_TariffBook):
    """Over one Redis client (decoded replies or bytes)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def versions(self, tariff_id: str) -> list[Tariff]:
        return decode_versions(await self._redis.hgetall(tariff_key(tariff_id)))

    async def list(self) -> list[Tariff]:
        ids = sorted(as_text(m) for m in await self._redis.smembers(TARIFFS_KEY))
        if not ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for tariff_id in ids:
                pipe.hgetall(tariff_key(tariff_id))
            rows: list[Mapping[Any, Any]] = await pipe.execute()
        latest = [decode_versions(row) for row in rows]
        return [versions[-1] for versions in latest if versions]

    async def assignments(self) -> dict[str, History]:
        return decode_assignments(await self._redis.hgetall(ASSIGNMENTS_KEY))

    async def history(self, key: str) -> History:
        raw = await self._redis.hget(ASSIGNMENTS_KEY, key)
        return (None if raw is None else decode_history(key, raw)) or []

    async def _add_new(self, tariff: Tariff) -> bool:
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hsetnx(tariff_key(tariff.id), "1", encode_tariff(tariff))
            tx.sadd(TARIFFS_KEY, tariff.id)  # idempotent: harmless when the id exists already
            created, _ = await tx.execute()
        return bool(created)

    async def _highest_version(self, tariff_id: str) -> int | None:
        fields = await self._redis.hkeys(tariff_key(tariff_id))
        return max(int(as_text(f)) for f in fields) if fields else None

    async def _claim(self, tariff: Tariff) -> bool:
        key = tariff_key(tariff.id)
        return bool(await self._redis.hsetnx(key, str(tariff.version), encode_tariff(tariff)))

    async def _version(self, tariff_id: str, version: int) -> Tariff | None:
        raw = await self._redis.hget(tariff_key(tariff_id), str(version))
        return None if raw is None else decode_tariff(raw)

    async def _exists(self, tariff_id: str) -> bool:
        return bool(await self._redis.exists(tariff_key(tariff_id)))

    async def _append(self, key: str, entry: Entry) -> History:
        """Under WATCH: a concurrent append retries, never lost."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    await pipe.watch(ASSIGNMENTS_KEY)
                    raw = await pipe.hget(ASSIGNMENTS_KEY, key)
                    history = _appended(None if raw is None else decode_history(key, raw), entry)
                    pipe.multi()  # type: ignore[no-untyped-call]  # untyped in redis-py
                    pipe.hset(ASSIGNMENTS_KEY, key, encode_history(history))
                    await pipe.execute()
                    return history
                except WatchError:
                    continue
        raise RuntimeError(f"could not append to tariff assignment {key!r}")


# --- in memory -----------------------------------------------------------------------------------


class MemoryTariffs(_TariffBook):
    """The hashes in dicts, holding the encoded text Redis would."""

    def __init__(self) -> None:
        self.tariffs: dict[str, dict[str, bytes]] = {}  # id -> version -> JSON
        self.histories: dict[str, bytes] = {}  # scope key -> JSON

    async def versions(self, tariff_id: str) -> list[Tariff]:
        return decode_versions(self.tariffs.get(tariff_id, {}))

    async def list(self) -> list[Tariff]:
        latest = [decode_versions(self.tariffs[i]) for i in sorted(self.tariffs)]
        return [versions[-1] for versions in latest if versions]

    async def assignments(self) -> dict[str, History]:
        return decode_assignments(self.histories)

    async def history(self, key: str) -> History:
        raw = self.histories.get(key)
        return (None if raw is None else decode_history(key, raw)) or []

    async def _add_new(self, tariff: Tariff) -> bool:
        if tariff.id in self.tariffs:
            return False
        self.tariffs[tariff.id] = {"1": encode_tariff(tariff)}
        return True

    async def _highest_version(self, tariff_id: str) -> int | None:
        stored = self.tariffs.get(tariff_id)
        return max(int(v) for v in stored) if stored else None

    async def _claim(self, tariff: Tariff) -> bool:
        stored = self.tariffs.setdefault(tariff.id, {})
        if str(tariff.version) in stored:
            return False
        stored[str(tariff.version)] = encode_tariff(tariff)
        return True

    async def _version(self, tariff_id: str, version: int) -> Tariff | None:
        raw = self.tariffs.get(tariff_id, {}).get(str(version))
        return None if raw is None else decode_tariff(raw)

    async def _exists(self, tariff_id: str) -> bool:
        return tariff_id in self.tariffs

    async def _append(self, key: str, entry: Entry) -> History:
        history = _appended(await self.history(key), entry)
        self.histories[key] = encode_history(history)
        return history
