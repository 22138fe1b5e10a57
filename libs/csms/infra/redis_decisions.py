"""The gateway's decisions, read from the Redis read models (see csms.handlers.Decisions).

Admission (BootNotification) follows the station registry and the deployment's admission policy:

| station           | open                 | pending              | closed   |
|-------------------|----------------------|----------------------|----------|
| unknown           | registered Accepted  | registered Pending   | Rejected |
| registered        | its registry status (Accepted / Pending / Rejected)          |

Accepted is answered with the heartbeat interval, Pending and Rejected with the retry interval.
Under `closed` unknown stations are refused at the handshake; a boot that still gets here is
Rejected and nothing is registered.

Authorization reads the id tokens read model (csms.readmodels.id_tokens: status, expiry, group).
The network is open: a token nobody has listed is Accepted. A listed token is Accepted unless its
status says otherwise, or its expiry (ISO 8601 or epoch ms) has passed, which makes it Expired.

A group's tariff (2.1 AuthorizeResponse.tariff) is the tariff assigned now to scope
`group:<group>` (the tariffs read model, csms.readmodels.tariffs), in its version valid now;
likewise a decoration, absent when unreadable. Only the group's own assignment counts: the
station, EVSE and network defaults are the station's default tariff (SetDefaultTariff), not a
driver's own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from csms.clock import Clock, system_clock
from csms.domain.tariffs import assignment_key, version_at
from csms.handlers import BootDecision, TokenInfo
from csms.infra import redis_keys
from csms.infra.redis_batch import RedisBatcher
from csms.infra.station_registry import ACCEPTED, PENDING, REJECTED, StationRegistry
from csms.readmodels.id_tokens import RedisIdTokens, parse_expiry
from csms.readmodels.tariffs import RedisTariffs
from csms.settings import Settings

log = logging.getLogger(__name__)

ADMISSIONS = ("open", "pending", "closed")
DEFAULT_RETRY_INTERVAL_S = 60
DEFAULT_TOKEN_STATUS = ACCEPTED  # open network: see the module docstring


class RedisDecisions:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        heartbeat_interval_s: int,
        admission: str = "open",
        retry_interval_s: int = DEFAULT_RETRY_INTERVAL_S,
        clock: Clock = system_clock,
        batcher: RedisBatcher | None = None,
    ) -> None:
        if admission not in ADMISSIONS:
            raise ValueError(f"admission must be one of {ADMISSIONS}, got {admission!r}")
        self._redis = redis
        self._registry = StationRegistry(redis, clock, batcher)
        self._id_tokens = RedisIdTokens(redis, clock)
        self._tariffs = RedisTariffs(redis)
        self._admission = admission
        self._retry_interval_s = retry_interval_s
        self._clock = clock
        self.heartbeat_interval_s = heartbeat_interval_s

    @classmethod
    def from_settings(
        cls,
        redis: aioredis.Redis,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        batcher: RedisBatcher | None = None,
    ) -> RedisDecisions:
        return cls(
            redis,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            admission=settings.gateway_admission,
            clock=clock,
            batcher=batcher,
        )

    async def boot(self, station: str) -> BootDecision:
        registration = await self._registry.get(station)
        if registration is not None:
            return self._answer(registration.status)
        if self._admission == "closed":
            return self._answer(REJECTED)
        first_status = ACCEPTED if self._admission == "open" else PENDING
        # Atomic: if an operator (or another gateway) registered it meanwhile, theirs stands.
        registration = await self._registry.register_if_unknown(station, first_status)
        return self._answer(registration.status)

    def _answer(self, status: str) -> BootDecision:
        if status == ACCEPTED:
            return BootDecision(ACCEPTED, self.heartbeat_interval_s)
        # An unreadable registry status is not an admission: make the station retry.
        known = status if status in (PENDING, REJECTED) else PENDING
        return BootDecision(known, self._retry_interval_s)

    async def next_transaction_id(self) -> int:
        # INCR is atomic across every gateway; 1.6 transactionIds are 32-bit signed integers.
        return int(await self._redis.incr(redis_keys.TX16_SEQUENCE))

    async def authorize(self, id_token: str) -> TokenInfo:
        token = await self._id_tokens.get(id_token)
        if token is None:
            return TokenInfo(DEFAULT_TOKEN_STATUS)
        status = token.status or DEFAULT_TOKEN_STATUS
        group = token.group or None
        if not token.expiry:
            return TokenInfo(status, group=group)
        expiry_ms = parse_expiry(token.expiry)
        if expiry_ms is None:
            # A listed token whose expiry nobody can read is not trusted.
            log.warning("id token %r has an unreadable expiry", id_token[:40])
            return TokenInfo("Invalid", group=group)
        if status == ACCEPTED and expiry_ms <= self._clock():
            status = "Expired"
        return TokenInfo(status, expiry_ms=expiry_ms, group=group)

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        # Two round trips: the group's assignment history, then its tariff's versions.
        now = self._clock()
        try:
            history = await self._tariffs.history(assignment_key("group", group=group))
            tariff_id = assigned_at(history, now)
            if tariff_id is None:
                return None
            tariff = version_at(await self._tariffs.versions(tariff_id), now)
        except Exception:
            # It only decorates an Authorize answer: never fail the answer the station awaits.
            log.warning("tariff of id-token group %r unreadable", group[:40], exc_info=True)
            return None
        # version_at falls back to a future first version (for old sessions); not for "now".
        if tariff is None or tariff.valid_from_ms > now:
            return None
        return tariff.to_dict()


def assigned_at(history: Any, at_ms: int) -> str | None:
    """The tariff id of one scope's assignment history ([valid_from_ms, tariff_id or None]
    entries) valid at `at_ms`: the latest entry valid by then, never a future one."""
    valid = sorted((e for e in history if int(e[0]) <= at_ms), key=lambda e: int(e[0]))
    return str(valid[-1][1]) if valid and valid[-1][1] else None
