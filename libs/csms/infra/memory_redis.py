"""An in-memory stand-in for the part of redis-py's asyncio client the processors' stores use.

Why a Redis double and not in-memory stores: the replay then folds with the very store classes
of the live processors (`csms.projections.stores`), serialisation included, so what it
writes to Redis is byte for byte what they would have written; a store added later (device
model, 1.6 inference) works here unchanged as long as it uses the commands below. A command the
double does not know raises `UnsupportedCommand`, which the replay treats as fatal (a silently
skipped write would be a wrong read model).

Semantics follow Redis with `decode_responses=True`: values are stored as text, encoded the way
redis-py encodes arguments (bytes as UTF-8, ints with str, floats with repr). Expiries are kept
as absolute deadlines and written with PXAT, so a key written during the replay expires when it
would have, had the live processors written it at that moment.

Memory: one Python str per string key and one dict/set per hash/zset/set — proportional to the
read model (transactions, stations, connectors), not to the number of frames folded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import DataError

_Members = set[str]  # named here: inside MemoryRedis, `set` is the SET command


class UnsupportedCommand(RuntimeError):
    """The stores called a Redis command the in-memory double does not implement."""


def _text(value: Any) -> str:
    """A value as Redis returns it to a decode_responses client, encoded as redis-py encodes
    arguments (redis.connection.Encoder): bytes as UTF-8, numbers with repr, no bools."""
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, bool):
        raise DataError(f"invalid input of type bool: {value!r}")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    raise DataError(f"invalid input of type {type(value).__name__}")


def _score(value: Any) -> float:
    return float(value)


Command = tuple[str, tuple[Any, ...], dict[str, Any]]  # method name, args, kwargs


class MemoryRedis:
    """Strings, hashes, sorted sets and sets in dicts, with the redis-py call signatures."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.zsets: dict[str, dict[str, float]] = {}
        self.sets: dict[str, _Members] = {}
        self.deadlines_ms: dict[str, int] = {}  # string key -> absolute expiry (epoch ms)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not defined here: an unknown command must not pass silently.
        raise UnsupportedCommand(f"the replay's in-memory Redis has no {name!r} command")

    # -- strings ---------------------------------------------------------------------------------

    def _live(self, key: str) -> bool:
        deadline = self.deadlines_ms.get(key)
        if deadline is not None and deadline <= time.time() * 1000:
            self._drop(key)
            return False
        return True

    def _drop(self, key: str) -> int:
        found = [
            self.strings.pop(key, None),
            self.hashes.pop(key, None),
            self.zsets.pop(key, None),
            self.sets.pop(key, None),
        ]
        self.deadlines_ms.pop(key, None)
        return int(any(value is not None for value in found))

    async def get(self, key: str) -> str | None:
        return self.strings.get(key) if self._live(key) else None

    async def mget(self, keys: Iterable[str], *more: str) -> list[str | None]:
        names = [keys] if isinstance(keys, str) else list(keys)
        return [await self.get(k) for k in [*names, *more]]

    async def set(self, key: str, value: Any, ex: int | None = None, px: int | None = None) -> bool:
        self._drop(key)
        self.strings[key] = _text(value)
        ttl_ms = ex * 1000 if ex is not None else px
        if ttl_ms is not None:
            self.deadlines_ms[key] = int(time.time() * 1000) + int(ttl_ms)
        return True

    async def delete(self, *keys: str) -> int:
        return sum(self._drop(k) for k in keys)

    async def pttl(self, key: str) -> int:
        """Milliseconds left; -1 without an expiry, -2 for no such key (as Redis)."""
        if not self._live(key) or key not in self.strings:
            return -2
        deadline = self.deadlines_ms.get(key)
        return -1 if deadline is None else max(0, deadline - int(time.time() * 1000))

    async def exists(self, *keys: str) -> int:
        tables = (self.strings, self.hashes, self.zsets, self.sets)
        return sum(1 for k in keys if self._live(k) and any(k in t for t in tables))

    # -- hashes ----------------------------------------------------------------------------------

    async def hget(self, key: str, field: str) -> str | None:
        return self.hashes.get(key, {}).get(field)

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    async def hmget(self, key: str, keys: Iterable[str], *more: str) -> list[str | None]:
        fields = [keys] if isinstance(keys, str) else list(keys)
        stored = self.hashes.get(key, {})
        return [stored.get(f) for f in [*fields, *more]]

    async def hset(
        self,
        key: str,
        field: str | None = None,
        value: Any = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> int:
        items = dict(mapping or {})
        if field is not None:
            items[field] = value
        stored = self.hashes.setdefault(key, {})
        added = sum(1 for f in items if f not in stored)
        stored.update((str(f), _text(v)) for f, v in items.items())
        return added

    async def hdel(self, key: str, *fields: str) -> int:
        stored = self.hashes.get(key, {})
        removed = sum(1 for f in fields if stored.pop(f, None) is not None)
        if key in self.hashes and not stored:
            del self.hashes[key]  # Redis deletes an emptied key
        return removed

    # -- sorted sets and sets --------------------------------------------------------------------

    async def zadd(self, key: str, mapping: Mapping[str, Any]) -> int:
        stored = self.zsets.setdefault(key, {})
        added = sum(1 for m in mapping if _text(m) not in stored)
        stored.update((_text(m), _score(s)) for m, s in mapping.items())
        return added

    async def zrem(self, key: str, *members: Any) -> int:
        stored = self.zsets.get(key, {})
        removed = sum(1 for m in members if stored.pop(_text(m), None) is not None)
        if key in self.zsets and not stored:
            del self.zsets[key]  # Redis deletes an emptied key
        return removed

    async def zscore(self, key: str, member: str) -> float | None:
        return self.zsets.get(key, {}).get(member)

    async def sadd(self, key: str, *members: Any) -> int:
        stored = self.sets.setdefault(key, _Members())
        before = len(stored)
        stored.update(_text(m) for m in members)
        return len(stored) - before

    async def srem(self, key: str, *members: Any) -> int:
        stored = self.sets.get(key, _Members())
        before = len(stored)
        stored.difference_update(_text(m) for m in members)
        if key in self.sets and not stored:
            del self.sets[key]
        return before - len(stored)

    async def sismember(self, key: str, member: Any) -> bool:
        return _text(member) in self.sets.get(key, ())

    async def smembers(self, key: str) -> _Members:
        return _Members(self.sets.get(key, ()))

    # -- pipelines -------------------------------------------------------------------------------

    def pipeline(self, transaction: bool = True) -> MemoryPipeline:
        return MemoryPipeline(self)

    # -- what was written ------------------------------------------------------------------------

    def key_count(self) -> int:
        return len(self.strings) + len(self.hashes) + len(self.zsets) + len(self.sets)

    def commands(
        self, now_ms: int, chunk: int
    ) -> Iterator[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """The writes that recreate this content in a real Redis: (method, args, kwargs), big
        hashes/sets split in chunks of `chunk` members; keys already expired are left out."""
        for key, value in self.strings.items():
            deadline = self.deadlines_ms.get(key)
            if deadline is None:
                yield "set", (key, value), {}
            elif deadline > now_ms:
                yield "set", (key, value), {"pxat": deadline}
        for key, fields in self.hashes.items():
            for part in _chunks(list(fields.items()), chunk):
                yield "hset", (key,), {"mapping": dict(part)}
        for key, scores in self.zsets.items():
            for part in _chunks(list(scores.items()), chunk):
                yield "zadd", (key, dict(part)), {}
        for key, members in self.sets.items():
            for part in _chunks(sorted(members), chunk):
                yield "sadd", (key, *part), {}


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MemoryPipeline:
    """Queues commands and applies them in order on execute(), like a MULTI/EXEC pipeline."""

    def __init__(self, redis: Any) -> None:
        # Any client with the redis-py call signatures (also the processors' write-behind copy).
        self._redis = redis
        self._queued: list[Command] = []

    async def __aenter__(self) -> MemoryPipeline:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queued.clear()

    def __getattr__(self, name: str) -> Any:
        command = getattr(self._redis, name)  # raises UnsupportedCommand for unknown ones

        def queue(*args: Any, **kwargs: Any) -> MemoryPipeline:
            self._queued.append((name, args, kwargs))
            return self

        queue.__name__ = command.__name__
        return queue

    async def execute(self) -> list[Any]:
        queued, self._queued = self._queued, []
        return [await getattr(self._redis, name)(*args, **kwargs) for name, args, kwargs in queued]


async def write_to(
    memory: MemoryRedis, redis: Redis, *, batch: int = 2_000, chunk: int = 5_000
) -> int:
    """Write what `memory` holds into `redis` in pipelined batches (no MULTI: the read model is
    wiped before and the processors are stopped, so nobody sees a half-written state that
    matters); returns the commands sent."""
    now_ms = int(time.time() * 1000)
    sent = 0
    pipe = redis.pipeline(transaction=False)
    for name, args, kwargs in memory.commands(now_ms, chunk):
        getattr(pipe, name)(*args, **kwargs)
        sent += 1
        if sent % batch == 0:
            await pipe.execute()
    await pipe.execute()
    return sent
