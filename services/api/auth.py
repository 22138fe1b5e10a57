"""Bearer-token authentication with roles, and the audit record of who changed what.

Roles are ordered: analyst (read-only) < operator (commands, id tokens) < admin (station
registration and credentials, API tokens). An endpoint states the least role it needs:

    principal: Annotated[Principal, Depends(require(Role.OPERATOR))]

Tokens are random 256-bit secrets, so an unsalted SHA-256 is enough to store them: nobody can
guess a preimage, and the digest is the Redis key that finds a token in one lookup. A token is
shown once, when it is minted, and never stored, logged or returned afterwards. The bootstrap
admin token comes from `CSMS_API_TOKEN` (Settings.api_token), never touches Redis and never
expires; a minted token past its expiry is refused 401 `token_expired` (ADR 0028).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from csms.clock import Clock
from csms.infra.api_tokens import BOOTSTRAP_NAME, TOKEN_PREFIX, ApiTokens, Principal, Role, allows
from csms.settings import Settings
from services.api.audit import AuditSink, audit_record
from services.api.errors import ApiError, error_response
from services.api.rate_limit import RateLimiter
from services.api.views import iso_ms

log = logging.getLogger(__name__)


def _bootstrap(token: str, settings: Settings) -> Principal | None:
    if settings.api_token and hmac.compare_digest(token.encode(), settings.api_token.encode()):
        return Principal(BOOTSTRAP_NAME, Role.ADMIN)
    return None


async def authenticate(request: Request, token: str) -> Principal | None:
    """The principal a bearer token stands for, expired or not; None when unknown or revoked."""
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
        valid = principal is not None and not _expired(request, principal)
        _tell_rate_limiter(request, credentials.credentials, valid)
        if principal is None:
            raise AuthError(
                401,
                "unauthorized",
                "unknown or revoked API token",
                'Bearer error="invalid_token"',
            )
        if not valid:
            raise AuthError(
                401,
                "token_expired",
                f"this API token expired at {iso_ms(principal.expires_ms)}; ask an admin for "
                "a new one",
                # RFC 6750 section 3's own example of an expired token's challenge.
                'Bearer error="invalid_token", error_description="The access token expired"',
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


def _expired(request: Request, principal: Principal) -> bool:
    clock: Clock = request.app.state.clock
    return principal.expired(clock())


def _tell_rate_limiter(request: Request, token: str, valid: bool) -> None:
    """A valid token's next requests are charged to the token itself; a token revoked or
    expired since goes back to its senders' addresses (services/api/rate_limit.py)."""
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is None:
        return
    if valid:
        limiter.authenticated(token)
    else:
        limiter.refused(token)


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
