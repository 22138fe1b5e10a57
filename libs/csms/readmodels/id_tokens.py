"""The id tokens read model: the authorization cache the gateways read and operators write.

Keys (writer: the operator API; readers: the gateway's authorization, the billing's tariff
lookup (the group), the API):
* `csms:idtoken:<token>` hash: status (Accepted/Blocked/Expired/Invalid/...), type, group,
  expiry (ISO 8601 UTC or epoch ms), created_ms, updated_ms. An absent field is "not set".
* `csms:idtokens` sorted set: every listed token, score 0 (so ordered by token) - the listing
  index over the hashes.

Not rebuildable from Kafka (an operator's decisions): `csms replay` never touches them. A write
is visible to the next Authorize at once: there is no other copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.readmodels.base import PREFIX, parse_ms
from csms.text import as_text

ID_TOKENS_KEY = f"{PREFIX}:idtokens"


def id_token_key(token: str) -> str:
    """Hash: status, type, group, expiry, created_ms, updated_ms."""
    return f"{PREFIX}:idtoken:{token}"


FIELDS = ("status", "type", "group", "expiry", "created_ms", "updated_ms")


@dataclass(frozen=True, slots=True)
class IdTokenRecord:
    """One listed token as stored; "" (or 0) where a field is not set."""

    token: str
    status: str = ""
    type: str = ""
    group: str = ""
    expiry: str = ""  # as written: ISO 8601 or epoch ms (parse_expiry)
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def expiry_ms(self) -> int | None:
        """The expiry in epoch ms; None when there is none or it is unreadable."""
        return parse_expiry(self.expiry) if self.expiry else None


@dataclass(frozen=True, slots=True)
class IdTokenChange:
    """A partial update: None leaves a field as it is; "" removes group or expiry."""

    status: str | None = None
    type: str | None = None
    group: str | None = None
    expiry: str | None = None


# --- codec ---------------------------------------------------------------------------------------


def parse_expiry(text: str) -> int | None:
    """Epoch ms from an expiry given as epoch milliseconds or ISO 8601 (naive means UTC)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def encode_id_token(record: IdTokenRecord) -> dict[str, str]:
    """The hash fields of a record (unset ones left out)."""
    values = (record.status, record.type, record.group, record.expiry)
    out = {name: value for name, value in zip(FIELDS, values, strict=False) if value}
    out.update(created_ms=str(record.created_ms), updated_ms=str(record.updated_ms))
    return out


def encode_change(change: IdTokenChange) -> tuple[dict[str, str], list[str]]:
    """(fields to set, fields to remove) of a partial update."""
    given = {"status": change.status, "type": change.type}
    given.update(group=change.group, expiry=change.expiry)
    to_set = {name: value for name, value in given.items() if value}
    removed = [name for name in ("group", "expiry") if given[name] == ""]
    return to_set, removed


def decode_id_token(token: str, fields: Mapping[Any, Any]) -> IdTokenRecord | None:
    """A token's hash (str or bytes; None values for fields HMGET did not find); None when
    nothing is stored. Unreadable times read as 0."""
    text = {as_text(k): as_text(v) for k, v in fields.items() if v is not None}
    if not text:
        return None
    return IdTokenRecord(
        token=token,
        status=text.get("status", ""),
        type=text.get("type", ""),
        group=text.get("group", ""),
        expiry=text.get("expiry", ""),
        created_ms=parse_ms(text.get("created_ms")) or 0,
        updated_ms=parse_ms(text.get("updated_ms")) or 0,
    )


# --- the contract --------------------------------------------------------------------------------


class IdTokens(Protocol):
    async def create(self, record: IdTokenRecord) -> IdTokenRecord | None:
        """Store a new token, stamped with the clock; None when it exists already."""
        ...

    async def update(self, token: str, change: IdTokenChange) -> IdTokenRecord | None:
        """Change an existing token (updated_ms stamped); None when there is no such token."""
        ...

    async def get(self, token: str) -> IdTokenRecord | None: ...

    async def group(self, token: str) -> str | None:
        """Only the token's group (one field: what the billing's tariff lookup needs)."""
        ...

    async def tokens(self, start: int, count: int) -> list[str]:
        """`count` listed tokens from position `start`, in token order."""
        ...

    async def count(self) -> int: ...

    async def many(self, tokens: Sequence[str]) -> list[IdTokenRecord | None]:
        """The tokens' records in order; None where the hash vanished."""
        ...


# --- Redis ---------------------------------------------------------------------------------------

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


class RedisIdTokens:
    def __init__(self, redis: Redis, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock

    async def create(self, record: IdTokenRecord) -> IdTokenRecord | None:
        now = self._clock()
        stored = _stamped(record, now)
        fields = encode_id_token(stored)
        args = [record.token, *(part for pair in fields.items() for part in pair)]
        keys = [id_token_key(record.token), ID_TOKENS_KEY]
        created = await self._redis.eval(_CREATE, len(keys), *keys, *args)
        return stored if created else None

    async def update(self, token: str, change: IdTokenChange) -> IdTokenRecord | None:
        to_set, removed = encode_change(change)
        to_set["updated_ms"] = str(self._clock())
        args = [str(len(to_set)), *(p for pair in to_set.items() for p in pair), *removed]
        updated = await self._redis.eval(_UPDATE, 1, id_token_key(token), *args)
        return await self.get(token) if updated else None

    async def get(self, token: str) -> IdTokenRecord | None:
        return decode_id_token(token, await self._redis.hgetall(id_token_key(token)))

    async def group(self, token: str) -> str | None:
        raw = await self._redis.hget(id_token_key(token), "group")
        return as_text(raw) if raw else None

    async def tokens(self, start: int, count: int) -> list[str]:
        if count <= 0:
            return []
        members = cast(
            "list[Any]", await self._redis.zrange(ID_TOKENS_KEY, start, start + count - 1)
        )
        return [as_text(m) for m in members]

    async def count(self) -> int:
        return int(await self._redis.zcard(ID_TOKENS_KEY))

    async def many(self, tokens: Sequence[str]) -> list[IdTokenRecord | None]:
        if not tokens:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for token in tokens:
                pipe.hmget(id_token_key(token), list(FIELDS))
            rows: list[list[Any]] = await pipe.execute()
        return [
            decode_id_token(token, dict(zip(FIELDS, row, strict=True)))
            for token, row in zip(tokens, rows, strict=True)
        ]


def _stamped(record: IdTokenRecord, now_ms: int) -> IdTokenRecord:
    return IdTokenRecord(
        record.token, record.status, record.type, record.group, record.expiry, now_ms, now_ms
    )


# --- in memory -----------------------------------------------------------------------------------


class MemoryIdTokens:
    """The hashes in a dict (as Redis holds them: text fields), listed in token order."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self._clock = clock

    async def create(self, record: IdTokenRecord) -> IdTokenRecord | None:
        if record.token in self.hashes:
            return None
        stored = _stamped(record, self._clock())
        self.hashes[record.token] = encode_id_token(stored)
        return stored

    async def update(self, token: str, change: IdTokenChange) -> IdTokenRecord | None:
        fields = self.hashes.get(token)
        if fields is None:
            return None
        to_set, removed = encode_change(change)
        fields.update(to_set, updated_ms=str(self._clock()))
        for name in removed:
            fields.pop(name, None)
        return await self.get(token)

    async def get(self, token: str) -> IdTokenRecord | None:
        return decode_id_token(token, self.hashes.get(token, {}))

    async def group(self, token: str) -> str | None:
        return self.hashes.get(token, {}).get("group") or None

    async def tokens(self, start: int, count: int) -> list[str]:
        return sorted(self.hashes)[start : start + count] if count > 0 else []

    async def count(self) -> int:
        return len(self.hashes)

    async def many(self, tokens: Sequence[str]) -> list[IdTokenRecord | None]:
        return [await self.get(token) for token in tokens]
