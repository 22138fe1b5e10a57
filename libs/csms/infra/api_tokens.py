"""Operator API tokens and roles, in Redis: what the API authenticates with and what the
`csms api-token` command line manages (one store for both).

Roles are ordered: analyst (read-only) < operator (commands, id tokens) < admin (station
registration and credentials, API tokens). Tokens are random 256-bit secrets, so an unsalted
SHA-256 is enough to store them: nobody can guess a preimage, and the digest is the Redis key
that finds a token in one lookup. A token is shown once, when it is minted, and never stored,
logged or returned afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.infra import redis_keys

log = logging.getLogger(__name__)


class Role(StrEnum):
    ANALYST = "analyst"
    OPERATOR = "operator"
    ADMIN = "admin"


_RANK = {Role.ANALYST: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def allows(held: Role, needed: Role) -> bool:
    """True when a principal holding `held` may do what needs `needed`."""
    return _RANK[held] >= _RANK[needed]


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role


# The principal of the CSMS_API_TOKEN; ':' is outside TOKEN_NAME, so no minted token shares it.
BOOTSTRAP_NAME = "env:CSMS_API_TOKEN"
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# A recognizable prefix lets secret scanners find leaked tokens.
TOKEN_PREFIX = "csms_"  # noqa: S105 - a prefix, not a secret


class TokenNameTaken(ValueError):
    """An API token with this name exists already."""


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiTokenInfo:
    """What may be shown about a token: never the token nor its digest."""

    name: str
    role: Role
    created_ms: int


@dataclass(frozen=True)
class MintedToken:
    token: str = field(repr=False)
    info: ApiTokenInfo


# Name reservation and token hash in one step: a name is never half-created, and two
# concurrent creations of one name cannot both win.
_CREATE = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('hset', KEYS[2], 'name', ARGV[1], 'role', ARGV[3], 'created_ms', ARGV[4])
return 1
"""


def _role(raw: object) -> Role | None:
    try:
        return Role(str(raw))
    except ValueError:
        return None


class ApiTokens:
    """The API tokens in Redis (`redis_keys.api_token`, `API_TOKEN_NAMES`)."""

    def __init__(self, redis: Redis, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock

    async def create(self, name: str, role: Role) -> MintedToken:
        """Mint a token; the result holds it (the only time it exists outside the caller).
        Raises TokenNameTaken, or ValueError for a name outside TOKEN_NAME."""
        if not TOKEN_NAME.fullmatch(name):
            raise ValueError("token names are 1-64 characters of [A-Za-z0-9._-]")
        token = generate_token()
        digest = token_digest(token)
        now = self._clock()
        created = await self._redis.eval(
            _CREATE,
            2,
            redis_keys.API_TOKEN_NAMES,
            redis_keys.api_token(digest),
            name,
            digest,
            Role(role).value,
            str(now),
        )
        if not created:
            raise TokenNameTaken(f"an API token named {name!r} exists already")
        return MintedToken(token, ApiTokenInfo(name, Role(role), now))

    async def lookup(self, token: str) -> Principal | None:
        raw: Mapping[Any, Any] = await self._redis.hgetall(
            redis_keys.api_token(token_digest(token))
        )
        if not raw:
            return None
        fields = {str(k): str(v) for k, v in raw.items()}
        role = _role(fields.get("role"))
        if role is None or not fields.get("name"):
            log.warning("API token %r has an unreadable record; refused", fields.get("name"))
            return None
        return Principal(fields["name"], role)

    async def list(self) -> list[ApiTokenInfo]:
        names: Mapping[Any, Any] = await self._redis.hgetall(redis_keys.API_TOKEN_NAMES)
        ordered = sorted((str(n), str(d)) for n, d in names.items())
        if not ordered:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, digest in ordered:
                pipe.hmget(redis_keys.api_token(digest), ["role", "created_ms"])
            rows: list[list[Any]] = await pipe.execute()
        infos = []
        for (name, _), (role_raw, created_raw) in zip(ordered, rows, strict=True):
            role = _role(role_raw)
            if role is not None:
                infos.append(ApiTokenInfo(name, role, int(created_raw or 0)))
        return infos

    async def delete(self, name: str) -> bool:
        """Revoke the token named `name`; False when there is none."""
        digest = await self._redis.hget(redis_keys.API_TOKEN_NAMES, name)
        if digest is None:
            return False
        async with self._redis.pipeline(transaction=True) as tx:
            tx.delete(redis_keys.api_token(str(digest)))
            tx.hdel(redis_keys.API_TOKEN_NAMES, name)
            await tx.execute()
        return True
