"""Per-client request rate limit of one API replica: a token bucket per client, kept in process.

A client is a bearer token this replica has already authenticated (charged to the token: one
script or console, wherever it runs), otherwise the source address: unauthenticated requests, a
token's first request, and garbage tokens — so minting random tokens is no way around the limit.
A client may send `burst` requests at once, refilled at `per_s`; beyond, 429 `rate_limited`
with `Retry-After`. `/health` and `/metrics` are exempt (probes and scrapers must always get
through), and so is the bootstrap token (CSMS_API_TOKEN): the installation's own credential,
which mints the tokens people and tools get and drives provisioning and the load benchmarks; the
limit is fairness between clients, not a bound on the installation's admin (who could mint
any number of tokens, each with its own bucket, anyway).

In process on purpose: no Redis round trip per request, nothing shared between replicas, so with
N replicas behind a load balancer a client may reach N times the limit. Behind a proxy the source
address is the proxy's (the API does not trust forwarding headers), so unauthenticated requests
share its bucket; tokens are unaffected. Memory is bounded: at most MAX_CLIENTS buckets, the
least recently used forgotten first (a forgotten bucket is a full one).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from csms.settings import Settings
from services.api.errors import error_response

Monotonic = Callable[[], float]
EXEMPT_PATHS = frozenset({"/health", "/metrics"})
MAX_CLIENTS = 50_000
V = TypeVar("V")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


def _digest(token: str) -> str:
    # Tokens themselves are not kept in memory longer than a request needs them.
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            return token.strip()
    return None


class RateLimiter:
    """Token buckets by client; `wait_s(client)` takes one request's token or says how long
    until there is one."""

    def __init__(
        self,
        per_s: float,
        burst: int,
        clock: Monotonic = time.monotonic,
        max_clients: int = MAX_CLIENTS,
        exempt: Iterable[str] = (),
    ) -> None:
        self.per_s = per_s
        self.burst = burst
        self.clock = clock  # seconds, monotonic; tests pin it
        self._max = max_clients
        self._buckets: dict[str, _Bucket] = {}  # in least-recently-used-first order
        self._known: dict[str, None] = {}  # digests of tokens authenticated here, same order
        self._exempt = frozenset(_digest(token) for token in exempt if token)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        """The limiter API_RATE_LIMIT_PER_S / _BURST ask for; None when either is 0 (off)."""
        if settings.api_rate_limit_per_s <= 0 or settings.api_rate_limit_burst <= 0:
            return None
        return cls(
            settings.api_rate_limit_per_s,
            settings.api_rate_limit_burst,
            exempt=(settings.api_token,),
        )

    @property
    def clients(self) -> int:
        """Buckets held (at most max_clients)."""
        return len(self._buckets)

    def authenticated(self, token: str) -> None:
        """`token` authenticated: charge its next requests to it rather than to an address."""
        self._touch(self._known, _digest(token), None)

    def refused(self, token: str) -> None:
        """`token` no longer admits anything (revoked, expired): back to address buckets."""
        self._known.pop(_digest(token), None)

    def client_of(self, scope: Scope) -> str | None:
        """The bucket the request is charged to; None for an exempt token."""
        token = _bearer(scope)
        if token is not None:
            digest = _digest(token)
            if digest in self._exempt:
                return None
            if digest in self._known:
                return f"token:{digest}"
        client = scope.get("client")
        return f"addr:{client[0] if client else 'unknown'}"

    def wait_s(self, client: str) -> float:
        """0 when `client` may go on (its token taken), else the seconds until it may."""
        now = self.clock()
        bucket = self._buckets.pop(client, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_s)
        bucket.updated = now
        wait = 0.0
        if bucket.tokens >= 1:
            bucket.tokens -= 1
        else:
            wait = (1 - bucket.tokens) / self.per_s
        self._touch(self._buckets, client, bucket)
        return wait

    def _touch(self, table: dict[str, V], key: str, value: V) -> None:
        table.pop(key, None)
        table[key] = value  # now the most recently used
        if len(table) > self._max:
            del table[next(iter(table))]


class RateLimitMiddleware:
    """Answers 429 before the app runs (pure ASGI: no body is read for a refused request)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter | None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter
        if limiter is None or scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = limiter.client_of(scope)
        if client is None or (wait := limiter.wait_s(client)) <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        response = error_response(
            429,
            "rate_limited",
            f"more than {limiter.burst} requests at once or {limiter.per_s:g} per second from "
            f"this client; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
