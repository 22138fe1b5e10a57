"""Bearer-token authentication with roles, and the audit record of who changed what.

Roles are ordered: analyst (read-only) < operator (commands, id tokens) < admin (station
registration and credentials, API tokens). An endpoint states the least role it needs:

    principal: Annotated[Principal, Depends(require(Role.OPERATOR))]

Tokens are random 256-bit secrets, so an unsalted SHA-256 is enough to store them: nobody can
guess a preimage, and the digest is the Redis key that finds a token in one lookup. A token is
shown once, when it is minted, and never stored, logged or returned afterwards. The bootstrap
admin token comes from `CSMS_API_TOKEN` (Settings.api_token) and never touches Redis.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.infra import redis_keys
from csms.settings import Settings
from services.api.audit import AuditSink, audit_record
from services.api.errors import ApiError, error_response

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


def _bootstrap(token: str, settings: Settings) -> Principal | None:
    if settings.api_token and hmac.compare_digest(token.encode(), settings.api_token.encode()):
        return Principal(BOOTSTRAP_NAME, Role.ADMIN)
    return None


async def authenticate(request: Request, token: str) -> Principal | None:
    """The principal a bearer token stands for; None when unknown or revoked."""
    settings: Settings = request.app.state.settings
    principal = _bootstrap(token, settings)
    if principal is not None:
        return principal
    if not token.startswith(TOKEN_PREFIX):
        return None  # not one we minted: no Redis round trip for garbage
    redis: Redis = request.app.state.redis
    return await ApiTokens(redis).lookup(token)


class AuthError(ApiError):
    """401/403 with the `WWW-Authenticate` challenge RFC 6750 asks for."""

    def __init__(self, status: int, error: str, detail: str, challenge: str) -> None:
        super().__init__(status, error, detail)
        self.headers = {"WWW-Authenticate": challenge}


async def _auth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return error_response(exc.status, exc.error, exc.detail, headers=exc.headers)


def install_auth(app: FastAPI) -> None:
    """Answer AuthError with its challenge header (without this, ApiError's handler answers
    the same status and body, minus the header)."""
    app.add_exception_handler(AuthError, _auth_error)


_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `CSMS_API_TOKEN`, or one minted with `POST /api/v1/api-tokens` "
    "or `csms api-token create`.",
)


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers whose token holds `role` or a higher one."""

    async def authorized(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise AuthError(
                401,
                "unauthorized",
                "an API token is required: Authorization: Bearer <token>",
                "Bearer",
            )
        principal = await authenticate(request, credentials.credentials)
        if principal is None:
            raise AuthError(
                401,
                "unauthorized",
                "unknown or revoked API token",
                'Bearer error="invalid_token"',
            )
        if not allows(principal.role, role):
            raise AuthError(
                403,
                "forbidden",
                f"this call needs the {role} role; the token has {principal.role}",
                'Bearer error="insufficient_scope"',
            )
        return principal

    return authorized


async def record_audit(
    request: Request, principal: Principal, action: str, key: str, **fields: Any
) -> None:
    """One record on the audit topic: who (`principal`) did `action` to `key`, with `fields`
    (secrets are redacted by audit_record, but callers pass none)."""
    sink: AuditSink = request.app.state.audit
    settings: Settings = request.app.state.settings
    record = audit_record(principal.name, principal.role.value, action, **fields)
    await sink.record(settings.topics.audit, key, record)


# What an endpoint declares to need a role (its parameter's type): `principal: Operator`.
Analyst = Annotated[Principal, Depends(require(Role.ANALYST))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AUTH_ERRORS = (401, 403)  # every protected endpoint documents these
