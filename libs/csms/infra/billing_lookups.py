"""What billing a session needs from Redis, for the billing projection and the gateway alike:
the tariff that prices it (resolved by the tariffs read model, with the id token's group), what
the station can display (its device model), and - for the gateway answering a
TransactionEvent - the billing's checkpoint of a running session and its final bill. Every one
is read through its read model (csms.readmodels).

One class for both readers, so the gateway prices a session with exactly the tariff and the
display the billing projection will use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from csms.domain.session_bill import Display, cost_display
from csms.domain.tariffs import Tariff
from csms.domain.transactions import tx_key
from csms.readmodels.bills import RedisBills, issued_bill
from csms.readmodels.device_models import RedisDeviceModels
from csms.readmodels.id_tokens import RedisIdTokens
from csms.readmodels.tariffs import RedisTariffs


class BillingLookups:
    def __init__(self, redis: aioredis.Redis, *, datatransfer16: bool = False) -> None:
        self._tariffs = RedisTariffs(redis)
        self._id_tokens = RedisIdTokens(redis)
        self._device_models = RedisDeviceModels(redis)
        self._bills = RedisBills(redis)
        self._datatransfer16 = datatransfer16

    async def tariff_for(self, station: str, evse: int, id_token: str, at_ms: int) -> Tariff | None:
        group = await self._id_tokens.group(id_token) if id_token else None
        return await self._tariffs.resolve(station, evse, group, at_ms)

    async def display(self, station: str, proto: str) -> Display:
        model = await self._device_models.load_model(station)
        return cost_display(None if model is None else model.to_dict(), proto, self._datatransfer16)

    async def checkpoint(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        """The billing's checkpoint of a running session of a station that displays cost
        (csms.projections.billing.checkpoint), None when there is none."""
        return await self._bills.load_checkpoint(tx_key(station, transaction_id))

    async def final_bill(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        """The session's final bill, once the billing issued it (None before)."""
        return issued_bill(await self._bills.load_bill(tx_key(station, transaction_id)))
