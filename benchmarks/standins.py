"""Kafka- and Redis-free stand-ins for measuring the gateway on its own (benchmarks.rss_probe,
benchmarks.stages): a publisher whose frames are acknowledged at once and decisions that accept
every station and token."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from csms.envelope import Publishable
from csms.handlers import BootDecision
from services.gateway.publisher import AckFuture


class NullPublisher:
    async def publish(self, env: Publishable) -> AckFuture:
        fut: AckFuture = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def publish_unawaited(self, env: Publishable) -> None:
        return None

    def publish_unawaited_now(self, env: Publishable) -> bool:
        return True


class AcceptAllDecisions:
    heartbeat_interval_s = 300

    async def boot(self, station: str) -> BootDecision:
        return BootDecision("Accepted", self.heartbeat_interval_s)

    async def next_transaction_id(self) -> int:
        return 1

    async def authorize(self, id_token: str) -> str:
        return "Accepted"

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        return None
