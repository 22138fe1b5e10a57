"""Reconnect-storm guard: a Decisions wrapper that answers BootNotification `Pending` with a
jittered retry interval while the gateway is saturated, instead of refusing stations.

Saturation is measurable and local: more BootNotifications in the last second than
`boots_per_s`, or more frames in flight to Kafka than `max_inflight`. Stations told Pending
retry after `interval` seconds; the interval is drawn uniformly from
[retry_s, retry_s * (1 + overload)] so 50,000 chargers that came back together spread out in
proportion to how far over capacity the gateway is, instead of retrying in lock-step.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from csms.handlers import BootDecision, Decisions, TokenInfo
from services.gateway import metrics

PENDING = "Pending"


class BootRate:
    """Boots in the current one-second window, and in the previous one (cheap, no deque)."""

    __slots__ = ("_clock", "_count", "_previous", "_second")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._second = int(clock())
        self._count = 0
        self._previous = 0

    def hit(self) -> float:
        """Count one boot; return the boots per second over the last ~second."""
        second = int(self._clock())
        if second != self._second:
            self._previous = self._count if second == self._second + 1 else 0
            self._second, self._count = second, 0
        self._count += 1
        return float(max(self._count, self._previous))


class StormGuard:
    """Wraps the real Decisions; only `boot` changes behaviour."""

    def __init__(
        self,
        inner: Decisions,
        *,
        boots_per_s: float,
        retry_s: int,
        max_inflight: float = math.inf,
        inflight: Callable[[], float] = lambda: 0.0,  # e.g. the publisher's in-flight count
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._inner = inner
        self._boots_per_s = boots_per_s
        self._retry_s = max(retry_s, 1)
        self._max_inflight = max_inflight
        self._inflight = inflight
        self._rate = BootRate(clock)
        self._rng = rng or random.Random()
        self.heartbeat_interval_s = inner.heartbeat_interval_s

    def overload(self, boots_per_s: float) -> float:
        """How far over capacity the gateway is (0 = not saturated)."""
        by_boots = boots_per_s / self._boots_per_s - 1.0
        by_kafka = self._inflight() / self._max_inflight - 1.0 if self._max_inflight else 0.0
        return max(by_boots, by_kafka, 0.0)

    async def boot(self, station: str) -> BootDecision:
        overload = self.overload(self._rate.hit())
        if overload <= 0.0:
            return await self._inner.boot(station)
        metrics.BOOTS_DEFERRED.inc()
        spread = self._retry_s * min(overload, 20.0)
        return BootDecision(PENDING, self._retry_s + round(self._rng.uniform(0.0, spread)))

    async def next_transaction_id(self) -> int:
        return await self._inner.next_transaction_id()

    async def authorize(self, id_token: str) -> TokenInfo | str:
        return await self._inner.authorize(id_token)

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        return await self._inner.group_tariff(group)

    def __getattr__(self, name: str) -> Any:
        # Decisions grows with the handlers (certificates, reservations…): delegate the rest.
        return getattr(self._inner, name)
