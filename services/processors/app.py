"""The faust-streaming app: agents on `ocpp.frames` that keep the Redis read models current.

* `transactions` - the neutral Transaction projection -> Redis, and every changed snapshot on
  `csms.transactions` (key = station, value = orjson of Transaction.to_dict()).
* `status` - station and connector status -> Redis, and every changed ConnectorStatus on
  `csms.status` (key = station, value = orjson of dataclasses.asdict(ConnectorStatus)).

Processors never write ClickHouse: the analytics sink consumes those topics. Each agent decodes,
calls the pure projection and writes the result; a bad envelope or a projection bug is logged,
counted and skipped (the stream must go on), while Redis being unreachable pauses the agent
until it is back (skipping would silently lose read-model updates). Delivery is at least once
(faust flushes what an agent published before committing its offsets); the projections are
idempotent, so redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
import orjson
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from csms.envelope import EnvelopeError, FrameEnvelope, decode
from csms.infra.redis_client import make_redis
from csms.settings import LOCAL_STATE_DIR, Settings
from services.processors.projections import (
    StationStore,
    TransactionStore,
    project_status,
    project_transaction,
)
from services.processors.stores import RedisStationStore, RedisTransactionStore

log = logging.getLogger(__name__)

EVENTS = Counter(
    "csms_processor_events_total",
    "Envelopes handled by a processor agent, by outcome.",
    ["agent", "outcome"],  # outcome: changed | unchanged | bad_envelope | failed
)
PUBLISHED = Counter(
    "csms_processor_published_total", "Snapshots published by a processor agent.", ["agent"]
)
REDIS_RETRIES = Counter(
    "csms_processor_redis_retries_total", "Redis calls retried while Redis was unreachable."
)

_MAX_BACKOFF_S = 5.0
_INFRA_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def kafka_brokers(bootstrap: str) -> list[str]:
    """faust wants one kafka:// URL per bootstrap server."""
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


class Processors:
    """The I/O edge shared by the agents: stores and output topics."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        *,
        transactions: TransactionStore,
        stations: StationStore,
    ) -> None:
        self.transactions = transactions
        self.stations = stations
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        self.frames_topic = app.topic(settings.topics.frames, **raw)
        self.transactions_topic = app.topic(settings.topics.transactions, **raw)
        self.status_topic = app.topic(settings.topics.status, **raw)

    async def on_transactions(self, env: FrameEnvelope) -> bool:
        tx = await project_transaction(env, self.transactions)
        if tx is None:
            return False
        await self.transactions_topic.send(
            key=tx.station.encode(), value=orjson.dumps(tx.to_dict())
        )
        PUBLISHED.labels("transactions").inc()
        return True

    async def on_status(self, env: FrameEnvelope) -> bool:
        changed = await project_status(env, self.stations)
        for status in changed:
            value = orjson.dumps(dataclasses.asdict(status))
            await self.status_topic.send(key=status.station.encode(), value=value)
            PUBLISHED.labels("status").inc()
        return bool(changed)  # the outcome counts published statuses, not station-hash writes


async def handle(agent: str, raw: Any, step: Callable[[FrameEnvelope], Awaitable[bool]]) -> None:
    """Run one projection step for one raw event, never letting it stop the stream."""
    try:
        env = decode(raw if isinstance(raw, bytes) else bytes(raw or b""))
    except EnvelopeError as exc:
        EVENTS.labels(agent, "bad_envelope").inc()
        log.warning("%s: skipping bad envelope: %s", agent, exc)
        return
    backoff = 0.1
    while True:
        try:
            changed = await step(env)
        except _INFRA_ERRORS as exc:
            REDIS_RETRIES.inc()
            log.warning("%s: Redis unavailable (%s), retrying in %.1fs", agent, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
            continue
        except Exception:
            EVENTS.labels(agent, "failed").inc()
            log.exception("%s: skipping event %s of station %s", agent, env.id, env.station)
            return
        EVENTS.labels(agent, "changed" if changed else "unchanged").inc()
        return


def create_app(settings: Settings, *, redis: Redis | None = None) -> faust.App:
    """The processors app for these settings (topic names, group id, brokers, web port)."""
    web_port = settings.processors_web_port
    # faust keeps table metadata on disk; keep it in the git-ignored local state folder.
    datadir = LOCAL_STATE_DIR / "faust" / settings.processors_app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.processors_app_id,
        broker=kafka_brokers(settings.kafka_bootstrap),
        broker_client_id=settings.processors_app_id,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.kafka_partitions,
        producer_compression_type="zstd",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=web_port > 0,
        web_port=web_port if web_port > 0 else None,
        autodiscover=False,
        datadir=str(datadir),
    )
    client = redis if redis is not None else make_redis(settings)
    processors = Processors(
        app,
        settings,
        transactions=RedisTransactionStore(client),
        stations=RedisStationStore(client),
    )

    async def transactions(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            await handle("transactions", raw, processors.on_transactions)

    async def status(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            await handle("status", raw, processors.on_status)

    app.agent(processors.frames_topic, name="transactions")(transactions)
    app.agent(processors.frames_topic, name="status")(status)

    async def metrics(self: View, request: Request) -> Response:
        # aiohttp refuses a charset inside content_type=, so the full type goes in the header.
        return self.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    if web_port > 0:
        app.page("/metrics")(metrics)

    if redis is None:  # a client the caller passed in stays the caller's to close

        async def close_redis(sender: Any, *args: Any, **kwargs: Any) -> None:
            await client.aclose()

        # cast: mode types handlers with a `signal` parameter mypy cannot match to any def.
        app.on_before_shutdown.connect(cast(Any, close_redis))

    return app
