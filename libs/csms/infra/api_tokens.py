"""Operator API tokens and roles, in Redis: what the API authenticates with and what the
`csms api-token` command line manages (one store for both).

Roles are ordered: analyst (read-only) < operator (commands, id tokens) < admin (station
registration and credentials, API tokens). Tokens are random 256-bit secrets, so an unsalted
SHA-256 is enough to store them: nobody can guess a preimage, and the digest is the Redis key
that finds a token in one lookup. A token is shown once, when it is minted, and never stored,
logged or returned afterwards.

A token may carry an expiry (`expires_ms`, epoch ms): from then on it still names its principal,
so the API can say "expired" rather than "unknown", but it admits nothing. Tokens minted without
one, and the bootstrap token, never expire.
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
    expires_ms: int | None = None  # epoch ms from which the token admits nothing; None = never

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and now_ms >= self.expires_ms


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
    expires_ms: int | None = None

    def expired(self, now_ms: int) -> bool:
        return self.expires_ms is not None and now_ms >= self.expires_ms


@dataclass(frozen=True)
class MintedToken:
    token: str = field(repr=False)
    info: ApiTokenInfo


# Name reservation and token hash in one step: a name is never half-created, and two
# concurrent creations of one name cannot both win.
_CREATE = """
if redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('hset', KEYS[2], 'name', ARGV[1], 'role', ARGV[3], 'created_ms', ARGV[4],
           'expires_ms', ARGV[5])
return 1
"""


def _role(raw: object) -> Role | None:
    try:
        return Role(str(raw))
    except ValueError:
        return None


class _Unreadable(ValueError):
    """A stored expiry that is no epoch-ms integer."""


def _expiry(raw: object) -> int | None:
    """The stored `expires_ms`: absent, empty or "0" (tokens minted before expiries existed, or
    without one) = never."""
    text = "" if raw is None else str(raw)
    if text in ("", "0"):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise _Unreadable(text) from exc


class ApiTokens:
    """The API tokens in Redis (`redis_keys.api_token`, `API_TOKEN_NAMES`)."""

    def __init__(self, redis: Redis, clock: Clock = system_clock) -> None:
        self._redis = redis
        self._clock = clock

    async def create(self, name: str, role: Role, expires_ms: int | None = None) -> MintedToken:
        """Mint a token, valid until `expires_ms` (epoch ms; None = never); the result holds it
        (the only time it exists outside the caller). Raises TokenNameTaken, or ValueError for
        a name outside TOKEN_NAME."""
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
            str(expires_ms or 0),
        )
        if not created:
            raise TokenNameTaken(f"an API token named {name!r} exists already")
        return MintedToken(token, ApiTokenInfo(name, Role(role), now, expires_ms))

    async def lookup(self, token: str) -> Principal | None:
        """The principal of `token`, with its expiry (the caller decides what "now" is); None
        for a token never minted, revoked, or whose record is unreadable (refused, logged)."""
        raw: Mapping[Any, Any] = await self._redis.hgetall(
            redis_keys.api_token(token_digest(token))
        )
        if not raw:
            return None
        fields = {str(k): str(v) for k, v in raw.items()}
        role = _role(fields.get("role"))
        try:
            expires_ms = _expiry(fields.get("expires_ms"))
        except _Unreadable:
            role = None  # fail closed: an expiry nobody can read must not mean "never"
        if role is None or not fields.get("name"):
            log.warning("API token %r has an unreadable record; refused", fields.get("name"))
            return None
        return Principal(fields["name"], role, expires_ms)

    async def list(self) -> list[ApiTokenInfo]:
        names: Mapping[Any, Any] = await self._redis.hgetall(redis_keys.API_TOKEN_NAMES)
        ordered = sorted((str(n), str(d)) for n, d in names.items())
        if not ordered:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, digest in ordered:
                pipe.hmget(redis_keys.api_token(digest), ["role", "created_ms", "expires_ms"])
            rows: list[list[Any]] = await pipe.execute()
        infos = []
        for (name, _), (role_raw, created_raw, expires_raw) in zip(ordered, rows, strict=True):
            role = _role(role_raw)
            try:
                expires_ms = _expiry(expires_raw)
            except _Unreadable:
                expires_ms = 1  # listed as long expired, as lookup refuses it
            if role is not None:
                infos.append(ApiTokenInfo(name, role, int(created_raw or 0), expires_ms))
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
