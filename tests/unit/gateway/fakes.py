"""In-process stand-ins for the gateway's edges: a publisher that records envelopes and lets the
test decide when (and whether) Kafka acknowledges them, and fixed decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from csms.envelope import FrameEnvelope, Publishable, decode
from csms.handlers import BootDecision


class RecordingPublisher:
    def __init__(self, *, auto_ack: bool = True) -> None:
        self.envelopes: list[FrameEnvelope] = []
        self.acks: list[asyncio.Future[object]] = []
        self.auto_ack = auto_ack

    async def publish(self, env: Publishable) -> asyncio.Future[object]:
        return self._record(env)

    async def publish_unawaited(self, env: Publishable) -> None:
        self._record(env)

    def publish_unawaited_now(self, env: Publishable) -> bool:
        self._record(env)
        return True

    def _record(self, env: Publishable) -> asyncio.Future[object]:
        # Kept as the consumers will read it: what was encoded, decoded (the gateway writes
        # its envelopes straight to bytes).
        self.envelopes.append(env if isinstance(env, FrameEnvelope) else decode(env.encode()))
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        if self.auto_ack:
            fut.set_result(None)
        self.acks.append(fut)
        return fut

    def kinds(self) -> list[tuple[str, str, str]]:
        return [(e.dir, e.kind, e.action) for e in self.envelopes]


class FixedDecisions:
    def __init__(
        self,
        *,
        token_status: str = "Accepted",
        first_tx: int = 100,
        group_tariffs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.heartbeat_interval_s = 300
        self._token_status = token_status
        self._next_tx = first_tx
        self._group_tariffs = dict(group_tariffs or {})  # group -> Tariff.to_dict()

    async def boot(self, station: str) -> BootDecision:
        return BootDecision("Pending" if station.startswith("PENDING") else "Accepted", 300)

    async def next_transaction_id(self) -> int:
        self._next_tx += 1
        return self._next_tx

    async def authorize(self, id_token: str) -> str:
        return "Blocked" if id_token == "BLOCKED" else self._token_status

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        return self._group_tariffs.get(group)
