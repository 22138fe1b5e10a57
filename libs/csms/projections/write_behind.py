"""A write-behind Redis for one processor agent: reads from memory, writes once per batch.

Why: the stores talk to Redis command by command, and a redis-py asyncio round trip costs
≈ 150-300 µs of CPU; at 2-4 round trips per frame the processors managed ≈ 300 frames/s per
process (docs/benchmarks.md). Each agent is the only writer of its keys for the partitions it
owns (key = station, one partition per station), so while it owns them its own copy of what it
read and wrote is the truth: reads of a key are served from memory after the first, writes are
applied to memory and logged, and `flush()` sends the log in order in MULTI/EXEC pipelines.
The agent flushes after each batch of events, before faust acks them, so a crash loses only
unflushed work whose offsets were never committed: Kafka redelivers it and the idempotent folds
redo it.

The stores keep their redis-py code unchanged (`get`, `set`, `delete`, `hget`, `hgetall`, `hset`,
`sadd`, `srem`, `smembers`, `zadd`, `zrem`, `zrangebyscore`, `pipeline`); memory is the
in-memory Redis of csms.infra.memory_redis, so the semantics are the replay's. Sorted sets are
never cached (the network-wide indexes are large and only written here): their writes are
logged, and a read of one flushes first and asks Redis. A read that misses memory for a key with
logged writes flushes first, so the loaded value includes them. The copy is dropped when
partitions are revoked (another worker may write them next).

The copy is bounded: when it holds more than `max_keys` keys, a flush evicts every key not used
(read or written) since the previous eviction - a transaction that ended, a station gone quiet.
The next eviction waits for `max_keys / 2` more keys: memory stays within the working set plus
about `max_keys` keys, and a working set above `max_keys` is not scanned at every batch (a soak
found the copy growing with every transaction folded, ≈ 160 MiB/h at 3,000 stations).
Keys whose life ended (a transaction ended, a bill issued: `retire`) leave at the flush that
writes them: otherwise each agent's copy held every session of the last `max_keys` keys, with
their meter readings (a second soak: ≈ 9,000 ended transactions and bills after an hour).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from redis.asyncio import Redis

from csms.infra.memory_redis import MemoryPipeline, MemoryRedis
from csms.infra.redis_wire import Command, WireArg, apply_atomically, run_commands, wire

T = TypeVar("T")

# Commands per MULTI/EXEC: one round trip each, small enough not to stall other clients.
FLUSH_CHUNK = 1000


class WriteBehindRedis:
    """The subset of redis.asyncio.Redis the processors' stores use, buffered (see module)."""

    def __init__(self, redis: Redis, *, max_keys: int = 20_000) -> None:
        self._redis = redis
        self._max_keys = max_keys
        self._evict_above = max_keys  # the size at which the next flush evicts
        self._used: set[str] = set()  # keys read or written since the last eviction
        self._mem = MemoryRedis()
        self._loaded: set[str] = set()  # keys whose whole value (or absence) is in memory
        self._ops: dict[str, _KeyChanges] = {}  # per key: the net effect of its writes
        self._objects: dict[str, Any] = {}  # decoded values (get_object / set_object)
        self._unencoded: dict[str, _Lazy] = {}  # objects set since memory last had their text
        self._unencoded_hashes: dict[str, _LazyFields] = {}  # the same for hash objects
        self._retired: set[str] = set()  # keys to forget once their writes are in Redis
        self._lock = asyncio.Lock()  # one flush or miss-load at a time
        self.flushes = 0
        self.misses = 0
        self.evictions = 0

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        await self._materialize(key)
        await self._load(key, self._load_string)
        return await self._mem.get(key)

    async def get_object(self, key: str, decode: Callable[[str | bytes], T | None]) -> T | None:
        """The decoded value of a string key: decoded once, then served as the object (the
        callers never mutate what they get; they set a new object)."""
        if key in self._objects:
            self._used.add(key)
            found: T = self._objects[key]
            return found
        raw = await self.get(key)
        value = None if raw is None else decode(raw)
        if value is not None:
            self._objects[key] = value
        return value

    async def get_hash_object(
        self, key: str, decode: Callable[[dict[str, str]], T | None]
    ) -> T | None:
        """The decoded value of a hash key, decoded once; the writer keeps it current with
        `set_hash_object` (a plain write of the key forgets it)."""
        if key in self._objects:
            self._used.add(key)
            found: T = self._objects[key]
            return found
        value = decode(await self.hgetall(key))
        if value is not None:
            self._objects[key] = value
        return value

    def set_hash_object(
        self, key: str, value: Any, to_fields: Callable[[Any], Mapping[str, str]]
    ) -> None:
        """HSET key to every field of `to_fields(value)`, computed only at the flush (or when
        the hash is read): a station's hash, written at every frame for its last_seen, costs
        one HSET per batch and no conversion per frame."""
        self._unencoded.pop(key, None)
        self._objects[key] = value
        lazy = _LazyFields(value, to_fields)
        self._unencoded_hashes[key] = lazy
        self._ops_of(key).lazy_fields = lazy

    def set_object(self, key: str, value: Any, encode: Callable[[Any], bytes]) -> None:
        """SET key to `encode(value)`, encoded only when the batch is flushed (or the text is
        read): a station's state written at every frame of a batch is encoded once."""
        lazy = _Lazy(value, encode)
        self._objects[key] = value
        self._unencoded[key] = lazy
        self._loaded.add(key)
        self._ops_of(key).set(lazy, {})

    async def hget(self, key: str, field: str) -> str | None:
        await self._materialize(key)
        await self._load(key, self._load_hash)
        return await self._mem.hget(key, field)

    async def hgetall(self, key: str) -> dict[str, str]:
        await self._materialize(key)
        await self._load(key, self._load_hash)
        return await self._mem.hgetall(key)

    async def smembers(self, key: str) -> set[str]:
        await self._load(key, self._load_set)
        return await self._mem.smembers(key)

    async def zrangebyscore(self, key: str, *args: Any, **kwargs: Any) -> list[Any]:
        await self.flush()
        result: list[Any] = await self._redis.zrangebyscore(key, *args, **kwargs)
        return result

    # -- writes ----------------------------------------------------------------------------------

    async def set(self, key: str, value: Any, **kwargs: Any) -> bool:
        self._forget_object(key)
        await self._mem.set(key, value, **kwargs)
        self._loaded.add(key)  # the whole value is known now
        self._ops_of(key).set(value, kwargs)
        return True

    async def delete(self, *keys: str) -> int:
        for key in keys:
            self._forget_object(key)
        removed = await self._mem.delete(*keys)
        self._loaded.update(keys)
        for key in keys:
            self._ops_of(key).delete()
        return removed

    async def hset(
        self, key: str, field: str | None = None, value: Any = None, **kwargs: Any
    ) -> int:
        mapping = dict(kwargs.get("mapping") or {})
        if field is not None:
            mapping[field] = value
        await self._materialize(key)
        self._objects.pop(key, None)
        self._ops_of(key).fields.update(mapping)
        return await self._mirror("hset", key, mapping=mapping)

    async def sadd(self, key: str, *members: Any) -> int:
        self._ops_of(key).members.update(dict.fromkeys(map(str, members), True))
        return await self._mirror("sadd", key, *members)

    async def srem(self, key: str, *members: Any) -> int:
        self._ops_of(key).members.update(dict.fromkeys(map(str, members), False))
        return await self._mirror("srem", key, *members)

    async def zadd(self, key: str, mapping: Mapping[Any, Any]) -> int:
        # Never in memory (see the module docstring): only the write is kept.
        self._ops_of(key).scores.update((str(m), float(v)) for m, v in mapping.items())
        return 0

    async def zrem(self, key: str, *members: Any) -> int:
        self._ops_of(key).scores.update(dict.fromkeys(map(str, members)))
        return 0

    def retire(self, key: str) -> None:
        """The key's life ended (a transaction ended, a bill was issued): forget it at the next
        flush that writes its changes, instead of holding it until an eviction. A later read
        (a late or repeated event) loads it again."""
        self._retired.add(key)

    def pipeline(self, transaction: bool = True) -> MemoryPipeline:
        """Commands queued, then run here in order: atomic, since nothing else runs between."""
        return MemoryPipeline(self)

    # -- flushing --------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Keys with writes not yet in Redis."""
        return len(self._ops)

    async def flush(self) -> int:
        """Write every pending change to Redis; returns the commands sent. On an error nothing
        is lost: the changes go back in front of any made meanwhile, for the retry."""
        async with self._lock:
            return await self._flush_locked()

    def reset(self) -> None:
        """Forget the copy: partitions moved, someone else may write them next. Pending writes
        stay pending (and a read of one of their keys still flushes before loading it)."""
        self._mem = MemoryRedis()
        self._loaded.clear()
        self._used.clear()
        self._evict_above = self._max_keys
        self._objects.clear()
        self._unencoded.clear()
        self._unencoded_hashes.clear()
        self._retired.clear()

    async def _flush_locked(self) -> int:
        ops, self._ops = self._ops, {}
        commands = [c for key, change in ops.items() for c in change.commands(key)]
        try:
            for start in range(0, len(commands), FLUSH_CHUNK):
                await self._send(commands[start : start + FLUSH_CHUNK])
        except BaseException:
            # Changes made while this flush was out come after the failed ones.
            for key, later in self._ops.items():
                ops[key] = ops[key].then(later) if key in ops else later
            self._ops = ops
            raise
        self.flushes += 1
        await self._forget_retired()
        if len(self._loaded) > self._evict_above:
            await self._evict_unused()
        return len(commands)

    async def _forget_retired(self) -> None:
        """Drop the retired keys now in Redis (one written again meanwhile waits for its flush)."""
        gone = {key for key in self._retired if key not in self._ops}
        if not gone:
            return
        self._retired -= gone
        await self._mem.delete(*gone)
        self._loaded -= gone
        self._used -= gone
        for key in gone:
            self._forget_object(key)

    async def _evict_unused(self) -> None:
        """Forget every key not used since the last eviction (none has unflushed writes: a
        write is a use). The next eviction waits for max_keys / 2 more keys."""
        unused = (self._loaded | self._objects.keys()) - self._used - self._ops.keys()
        if unused:
            await self._mem.delete(*unused)
        self._loaded -= unused
        for key in unused:
            self._forget_object(key)
        self._used.clear()
        self._evict_above = max(self._max_keys, len(self._loaded) + self._max_keys // 2)
        self.evictions += 1

    async def prefetch(
        self, strings: Iterable[str] = (), hashes: Iterable[str] = (), sets: Iterable[str] = ()
    ) -> int:
        """Load the keys a batch is about to read in one round trip (the stations of a batch
        seen for the first time since the partitions were assigned) rather than one round trip
        per key at its first read. Keys already in memory or with pending writes are left to
        the usual path; on anything but a real Redis this does nothing. Returns keys loaded."""
        if not isinstance(self._redis, Redis):
            return 0
        wanted = [
            (kind, key)
            for kind, keys in (("string", strings), ("hash", hashes), ("set", sets))
            for key in keys
            if key not in self._loaded and key not in self._ops
        ]
        commands: list[list[WireArg]] = []
        for kind, key in wanted:
            commands += _LOAD_COMMANDS[kind](key)
        async with self._lock:
            replies = iter(await run_commands(self._redis, commands))
            for kind, key in wanted:
                if key in self._loaded or key in self._ops:  # written while the loads were out
                    next(replies)
                    if kind == "string":
                        next(replies)
                    continue
                await self._fill(kind, key, replies)
        return len(wanted)

    async def _fill(self, kind: str, key: str, replies: Iterator[object]) -> None:
        """Memory gets a key's value from its load commands' replies (see _LOAD_COMMANDS)."""
        reply = next(replies)
        if kind == "string":
            ttl_ms = next(replies)
            if reply is not None:
                px = {"px": ttl_ms} if isinstance(ttl_ms, int) and ttl_ms > 0 else {}
                await self._mem.set(key, reply, **px)
        elif kind == "hash" and reply:
            mapping = reply if isinstance(reply, dict) else _pairs(cast(list[Any], reply))
            await self._mem.hset(key, mapping={str(f): v for f, v in mapping.items()})
        elif kind == "set" and reply:
            await self._mem.sadd(key, *cast(Iterable[Any], reply))
        self._loaded.add(key)

    async def _send(self, commands: list[Command]) -> None:
        """One atomic write: one script call packed by hiredis on a real Redis (csms.infra.
        redis_wire), a MULTI/EXEC through the client's own pipeline on anything else (the
        replay's and the tests' memory)."""
        if isinstance(self._redis, Redis):
            await apply_atomically(self._redis, [wire(command) for command in commands])
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for name, args, kwargs in commands:
                getattr(pipe, name)(*args, **kwargs)
            await pipe.execute()

    # -- internals -------------------------------------------------------------------------------

    def _forget_object(self, key: str) -> None:
        self._objects.pop(key, None)
        self._unencoded.pop(key, None)
        self._unencoded_hashes.pop(key, None)

    async def _materialize(self, key: str) -> None:
        """Bring memory (and, for a hash, the logged fields) up to an object set here."""
        lazy = self._unencoded.pop(key, None)
        if lazy is not None:  # the SET is logged lazily; memory gets the text now
            await self._mem.set(key, lazy.text())
        fields = self._unencoded_hashes.pop(key, None)
        if fields is not None:
            mapping = dict(fields.fields())
            change = self._ops_of(key)
            change.lazy_fields = None
            change.fields.update(mapping)
            if key in self._loaded:
                await self._mem.hset(key, mapping=mapping)

    def _ops_of(self, key: str) -> _KeyChanges:
        self._used.add(key)
        change = self._ops.get(key)
        if change is None:
            change = self._ops[key] = _KeyChanges()
        return change

    async def _mirror(self, name: str, key: str, *args: Any, **kwargs: Any) -> int:
        # A partial write to a key not in memory is only kept as a change: loading it first
        # would cost the round trip this class exists to save; the next read of it flushes.
        if key not in self._loaded:
            return 0
        return int(await getattr(self._mem, name)(key, *args, **kwargs))

    async def _load(self, key: str, loader: Callable[[str], Awaitable[None]]) -> None:
        self._used.add(key)
        if key in self._loaded:
            return
        async with self._lock:
            if key in self._loaded:
                return
            if key in self._ops:
                await self._flush_locked()
            self.misses += 1
            await loader(key)
            self._loaded.add(key)

    async def _load_string(self, key: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            value, ttl_ms = await pipe.execute()
        if value is not None:
            kwargs = {"px": int(ttl_ms)} if isinstance(ttl_ms, int) and ttl_ms > 0 else {}
            await self._mem.set(key, value, **kwargs)

    async def _load_hash(self, key: str) -> None:
        fields = await self._redis.hgetall(key)
        if fields:
            await self._mem.hset(key, mapping={str(f): v for f, v in fields.items()})

    async def _load_set(self, key: str) -> None:
        members = await self._redis.smembers(key)
        if members:
            await self._mem.sadd(key, *members)


@dataclass(frozen=True, slots=True)
class _Lazy:
    """An object whose text is computed when it is needed (flush, or a read of the text)."""

    value: Any
    encode: Callable[[Any], bytes]

    def text(self) -> str:
        raw = self.encode(self.value)
        return raw.decode() if isinstance(raw, bytes) else raw


@dataclass(frozen=True, slots=True)
class _LazyFields:
    """An object whose hash fields are computed when they are needed."""

    value: Any
    to_fields: Callable[[Any], Mapping[str, str]]

    def fields(self) -> Mapping[str, str]:
        return self.to_fields(self.value)


@dataclass(slots=True)
class _KeyChanges:
    """The net effect of the writes to one key since the last flush: many writes to one key in
    a batch (a station's hash, the network's index of transactions) become one command each."""

    reset: bool = False  # DEL first
    value: tuple[Any, dict[str, Any]] | None = None  # SET value, options
    fields: dict[str, Any] = field(default_factory=dict)  # HSET
    members: dict[str, bool] = field(default_factory=dict)  # SADD (True) / SREM (False)
    scores: dict[str, float | None] = field(default_factory=dict)  # ZADD / ZREM (None)
    lazy_fields: _LazyFields | None = None  # HSET of an object's fields, after `fields`

    def set(self, value: Any, options: dict[str, Any]) -> None:
        self.delete()
        self.value = (value, options)

    def delete(self) -> None:
        self.reset, self.value = True, None
        self.fields, self.members, self.scores = {}, {}, {}
        self.lazy_fields = None

    def then(self, later: _KeyChanges) -> _KeyChanges:
        """These changes followed by `later` ones."""
        if later.reset:
            return later
        lazy = later.lazy_fields or (None if later.fields else self.lazy_fields)
        fields = {**self.fields, **later.fields}
        if self.lazy_fields is not None and lazy is None:
            fields = {**self.fields, **self.lazy_fields.fields(), **later.fields}
        return _KeyChanges(
            self.reset,
            later.value or self.value,
            fields,
            {**self.members, **later.members},
            {**self.scores, **later.scores},
            lazy,
        )

    def commands(self, key: str) -> list[Command]:
        out: list[Command] = []
        if self.value is not None:
            value = self.value[0]
            if isinstance(value, _Lazy):
                value = value.text()
            out.append(("set", (key, value), self.value[1]))  # SET replaces any type
        elif self.reset:
            out.append(("delete", (key,), {}))
        fields = self.fields
        if self.lazy_fields is not None:
            fields = {**fields, **self.lazy_fields.fields()}
        if fields:
            out.append(("hset", (key,), {"mapping": fields}))
        added = [m for m, add in self.members.items() if add]
        removed = [m for m, add in self.members.items() if not add]
        if added:
            out.append(("sadd", (key, *added), {}))
        if removed:
            out.append(("srem", (key, *removed), {}))
        scored = {m: s for m, s in self.scores.items() if s is not None}
        gone = [m for m, s in self.scores.items() if s is None]
        if scored:
            out.append(("zadd", (key, scored), {}))
        if gone:
            out.append(("zrem", (key, *gone), {}))
        return out


# The commands that load a key whole, per type (a string keeps its TTL).
_LOAD_COMMANDS: dict[str, Callable[[str], list[list[WireArg]]]] = {
    "string": lambda key: [["GET", key], ["PTTL", key]],
    "hash": lambda key: [["HGETALL", key]],
    "set": lambda key: [["SMEMBERS", key]],
}


def _pairs(flat: list[Any]) -> dict[Any, Any]:
    """HGETALL's RESP2 reply (field, value, field, value ...) as a mapping."""
    return dict(zip(flat[::2], flat[1::2], strict=True))
