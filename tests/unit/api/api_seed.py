"""Builders that write the processors' Redis read-model layout, for the API's tests.

Values come from the domain dataclasses themselves (ConnectorStatus, Transaction), so a change
of their shape shows up here as it would in the processors' output.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import orjson
from redis.asyncio import Redis

from csms.domain.model import ConnectorStatus, Transaction
from csms.infra import redis_keys as keys
from csms.infra.api_tokens import ApiTokens, Role

# A private Redis DB: the fixtures flush it before and after every test.
REDIS_URL = os.environ.get("CSMS_TEST_API_REDIS_URL", "redis://127.0.0.1:6379/11")

# 2025-01-31T12:00:00.000Z
T0 = 1_738_324_800_000


class Clock:
    """A clock the test moves (epoch ms): `app.state.clock = clock`, `clock.now += 60_000`."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def station_fields(protocol: str, *, online: bool, last_seen: int, **extra: str) -> dict[str, str]:
    fields = {"protocol": protocol, "online": "1" if online else "0", "last_seen": str(last_seen)}
    fields.update(extra)
    return fields


async def put_station(redis: Redis, station_id: str, fields: dict[str, str]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sadd(keys.STATIONS, station_id)
        if fields:
            pipe.hset(keys.station(station_id), mapping=dict(fields.items()))
        await pipe.execute()


async def put_status(
    redis: Redis, station_id: str, evse: int, connector: int, status: str, ts_ms: int, **kw: Any
) -> None:
    proto = kw.get("proto", "ocpp2.0.1")
    value = ConnectorStatus(
        station=station_id,
        evse=evse,
        connector=connector,
        status=status,
        # as csms.domain.status writes it: 2.x StatusNotification has no error code
        error_code=kw.get("error_code", "NoError" if proto == "ocpp1.6" else ""),
        ts_ms=ts_ms,
        proto=proto,
        event_id=kw.get("event_id", f"ev-{station_id}-{evse}-{connector}-{ts_ms}"),
    )
    await redis.hset(
        keys.station_connectors(station_id), f"{evse}/{connector}", orjson.dumps(asdict(value))
    )


async def put_transaction(redis: Redis, tx: Transaction) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.transaction(tx.key), orjson.dumps(tx.to_dict()))
        pipe.zadd(keys.station_transactions(tx.station), {tx.key: tx.started_ms})
        pipe.zadd(keys.TRANSACTIONS, {tx.key: tx.started_ms})
        await pipe.execute()


def make_tx(station_id: str, transaction_id: str, started_ms: int, **kw: Any) -> Transaction:
    return Transaction(
        key=f"{station_id}/{transaction_id}",
        station=station_id,
        transaction_id=transaction_id,
        proto=kw.pop("proto", "ocpp2.0.1"),
        started_ms=started_ms,
        updated_ms=kw.pop("updated_ms", started_ms),
        **kw,
    )


# The bootstrap admin token of the tests' Settings (CSMS_API_TOKEN).
ADMIN_TOKEN = "test-bootstrap-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def mint(redis: Redis, role: str, name: str | None = None) -> dict[str, str]:
    """Headers carrying a freshly minted token of `role`."""
    minted = await ApiTokens(redis).create(name or f"t-{role}", Role(role))
    return {"Authorization": f"Bearer {minted.token}"}
