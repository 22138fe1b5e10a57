"""The session's cost in the TransactionEventResponse, through the real stack (`csms up`): with
a billing checkpoint in the stack's Redis, a real `ocpp` 2.0.1 ChargePoint is told the running
cost on Updated and the total on Ended, equal to the session priced independently."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from ocpp.v201 import call as call201
from tests.stack.chargers import Charger201, charger, energy_event201
from tests.stack.conftest import Stack

from csms.domain.billing import Session, cost_message, finish, price
from csms.domain.tariffs import parse_tariff
from csms.domain.transactions import tx_key
from csms.infra import redis_keys

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:6]
TX = "tx-1"
TARIFF = parse_tariff(
    {
        "id": f"cost-{RUN}",
        "currency": "EUR",
        "energy_per_kwh": "0.40",
        "charging_per_hour": "0.60",
        "session_fee": "1.00",
        "tax_rate": "0.20",
    }
)
MINUTE = 60_000


async def test_station_is_told_the_running_cost_and_the_total(stack: Stack) -> None:
    station = f"COST-201-{RUN}"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 60 * MINUTE
    t1, t2, t3 = t0 + 20 * MINUTE, t0 + 40 * MINUTE, t0 + 55 * MINUTE
    readings = [(t0, 2_000.0), (t1, 6_000.0), (t2, 11_000.0), (t3, 13_500.0)]
    states = [(t0, "Charging")]
    # The billing projection's checkpoint after the first 20 minutes, written as it writes it.
    checkpoint = {
        "tariff": TARIFF.to_dict(),
        "acc": price(TARIFF, Session(t0, readings=readings[:2], states=states)).to_dict(),
        "show": {"final": True, "message": True},
    }
    redis = aioredis.Redis.from_url(stack.redis_url)
    try:
        await redis.set(
            redis_keys.cost_checkpoint(tx_key(station, TX)), orjson.dumps(checkpoint), ex=600
        )
        async with charger(stack.ws_url(station), Charger201, station, "ocpp2.0.1") as cp:
            boot = await cp.call(
                call201.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                )
            )
            assert boot.status == "Accepted"
            updated = await cp.call(energy_event201("Updated", t2, 11_000.0, 1, transaction_id=TX))
            ended = await cp.call(energy_event201("Ended", t3, 13_500.0, 2, transaction_id=TX))
    finally:
        await redis.aclose()

    running = finish(
        TARIFF, price(TARIFF, Session(t0, readings=readings[:3], states=states)), final=False
    )
    assert updated.total_cost is None  # 2.0.1: only once charging has ended
    assert updated.updated_personal_message == {
        "format": "UTF8",
        "content": cost_message(running),
    }
    final: dict[str, Any] = finish(
        TARIFF, price(TARIFF, Session(t0, t3, readings, states)), final=True
    )
    # 13.5 - 2 kWh at 0.40 + 55 min at 0.60/h + 1.00 fee = 6.15, + 20 % tax = 7.38
    assert Decimal(final["total"]) == Decimal("7.38")
    assert ended.total_cost == float(Decimal(final["total"]))
    assert ended.updated_personal_message["content"] == cost_message(final)
