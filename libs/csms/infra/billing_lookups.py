"""What billing a session needs from Redis, for the billing projection and the gateway alike:
the tariff that prices it (resolved as csms.infra.tariff_store says, with the id token's group),
what the station can display (its device model), and - for the gateway answering a
TransactionEvent - the billing's checkpoint of a running session and its final bill.

One class for both readers, so the gateway prices a session with exactly the tariff and the
display the billing projection will use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis

from csms.domain.session_bill import Display, cost_display
from csms.domain.tariffs import Tariff
from csms.domain.transactions import tx_key
from csms.infra import redis_keys
from csms.infra.tariff_store import TariffStore
from csms.text import as_text

log = logging.getLogger(__name__)


class BillingLookups:
    def __init__(self, redis: aioredis.Redis, *, datatransfer16: bool = False) -> None:
        self._redis = redis
        self._tariffs = TariffStore(redis)
        self._datatransfer16 = datatransfer16

    async def tariff_for(self, station: str, evse: int, id_token: str, at_ms: int) -> Tariff | None:
        group = await self._redis.hget(redis_keys.id_token(id_token), "group") if id_token else None
        return await self._tariffs.resolve(station, evse, as_text(group) if group else None, at_ms)

    async def display(self, station: str, proto: str) -> Display:
        model = await self._json(redis_keys.device_model(station))
        return cost_display(model, proto, self._datatransfer16)

    async def checkpoint(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        """The billing's checkpoint of a running session of a station that displays cost
        (csms.projections.billing.checkpoint), None when there is none."""
        return await self._json(redis_keys.cost_checkpoint(tx_key(station, transaction_id)))

    async def final_bill(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        """The session's final bill, once the billing issued it (None before)."""
        state = await self._json(redis_keys.bill(tx_key(station, transaction_id)))
        bill = None if state is None else state.get("bill")
        if isinstance(bill, dict) and bill.get("state") == "final":
            return bill
        return None

    async def _json(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(key)
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            log.warning("%s is not a JSON object: ignored", key)
            return None
        return value
