"""The billing projection on the real steps, for tests: frames through the transactions step,
its snapshots through the billing step, in-memory stores, with fake lookups and messages."""

from __future__ import annotations

from typing import Any

import orjson

from csms.domain.session_bill import Display
from csms.domain.tariffs import Tariff, parse_tariff
from csms.envelope import FrameEnvelope
from csms.projections.billing import BillingConfig, BillingStep
from csms.projections.pipeline import Processors
from csms.settings import Topics
from tests.unit.processors.fakes import (
    MemoryBillingStore,
    MemoryDeviceModelStore,
    MemoryInferenceStore,
    MemoryStationStore,
    MemoryTransactionStore,
)

MIN = 60_000
HOUR = 60 * MIN
TOPICS = Topics()
NO_DISPLAY = Display()
FLAT = parse_tariff({"id": "FLAT", "currency": "EUR", "energy_per_kwh": "0.40"})


class Outputs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, value))

    def take(self, topic: str) -> list[dict[str, Any]]:
        out = [orjson.loads(v) for t, v in self.sent if t == topic]
        self.sent = [(t, v) for t, v in self.sent if t != topic]
        return out


class Lookups:
    def __init__(self, tariff: Tariff | None, display: Display) -> None:
        self.tariff, self._display = tariff, display
        self.asked: list[tuple[str, int, str, int]] = []

    async def tariff_for(self, station: str, evse: int, id_token: str, at_ms: int) -> Tariff | None:
        self.asked.append((station, evse, id_token, at_ms))
        return self.tariff

    async def display(self, station: str, proto: str) -> Display:
        return self._display


class Messages:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def send(self, station: str, action: str, payload: dict[str, Any]) -> bool:
        self.sent.append((station, action, payload))
        return True


class Harness:
    """The transactions step feeding the billing step, snapshot by snapshot, as live."""

    def __init__(self, tariff: Tariff | None = FLAT, display: Display = NO_DISPLAY) -> None:
        self.outputs, self.store, self.messages = Outputs(), MemoryBillingStore(), Messages()
        self.lookups = Lookups(tariff, display)
        step = BillingStep(self.store, self.lookups, self.messages, BillingConfig(5 * MIN, True))
        self.p = Processors(
            TOPICS,
            self.outputs,
            transactions=MemoryTransactionStore(),
            stations=MemoryStationStore(),
            device_models=MemoryDeviceModelStore(),
            inference=MemoryInferenceStore(),
            billing=step,
        )
        self.bills: list[dict[str, Any]] = []
        self.snapshots: list[dict[str, Any]] = []

    async def feed(self, *envs: FrameEnvelope) -> None:
        for env in envs:
            await self.p.on_transactions(env)
            for record in self.outputs.take(TOPICS.transactions):
                if record["type"] == "transaction":
                    self.snapshots.append(record)
                await self.p.on_billing(record)  # events too: the billing skips them
            self.bills += self.outputs.take(TOPICS.bills)

    async def redeliver(self, snap: dict[str, Any]) -> None:
        await self.p.on_billing(snap)
        self.bills += self.outputs.take(TOPICS.bills)

    def final(self) -> dict[str, Any]:
        assert self.bills, "no bill published"
        return max(self.bills, key=lambda b: b["revision"])


def billed(bill: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bill.items() if k not in ("revision", "computed_ms")}
