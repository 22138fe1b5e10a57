"""The processors: agents that keep the Redis read models current, in one faust-streaming app.

The `frames` agent reads `ocpp.frames` (and `csms.policy`), decodes each event once and runs
these steps on it, in partition order:
* `transactions` - the neutral Transaction projection -> Redis, and on `csms.transactions`
  (key = station) every changed snapshot (csms.domain.transactions.snapshot) and one neutral
  event per 2.x TransactionEvent (neutral_event).
* `status` - station and connector status -> Redis, and every changed ConnectorStatus on
  `csms.status` (key = station, value = the ConnectorStatus as JSON).
* `device_model` - each station's device model (csms.projections.device_models) -> Redis
  `csms:dm:<station>`; publishes nothing.
* `inference16` - 2.0.1-style events inferred from 1.6 frames (csms.projections.inference)
  -> `csms.transactions`, state in `csms:inf16:<station>`.
The `billing` agent folds the snapshots of `csms.transactions` into bills (ADR 0014).
The leader's timer closes zombie transactions through `csms.policy` (ADR 0012).

Each agent consumes its topics in batches on librdkafka (services.processors.batch_consumer,
ADR 0023) and writes Redis through its own write-behind copy (csms.projections.write_behind);
at the end of a batch its outputs are acknowledged by Kafka, then Redis is flushed, then the
offsets are committed, so a batch cut short by a crash or a stop is redelivered. faust runs
them as tasks and keeps the web page (/metrics), the timers and the leader election.

Processors never write ClickHouse: the analytics sink consumes those topics. A bad envelope or a
projection bug is logged, counted and skipped (the stream must go on), while Redis being
unreachable pauses the agent until it is back (skipping would silently lose read-model
updates). Delivery is at least once; the projections are idempotent, so redelivery changes
nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, cast

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from csms.clock import system_clock
from csms.infra.kafka_outputs import KafkaOutputs, OutputsLost
from csms.infra.redis_client import make_redis
from csms.projections.pipeline import (
    AGENTS,
    DOWNSTREAM,
    handle_frame,
    handle_value,
    prefetch_stations,
)
from csms.projections.wiring import build_processors
from csms.projections.write_behind import WriteBehindRedis
from csms.settings import LOCAL_STATE_DIR, Settings
from services.processors.batch_consumer import BatchConsumer
from services.processors.station_messages import RedisStationMessages

log = logging.getLogger(__name__)
# The agent that runs every frame step (pipeline.AGENTS) on each event, in one pass.
FRAMES_AGENT = "frames"
RAW: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}


def kafka_brokers(bootstrap: str) -> list[str]:
    """faust wants one kafka:// URL per bootstrap server."""
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def create_app(settings: Settings, *, redis: Redis | None = None) -> faust.App:
    """The processors app for these settings (topic names, group id, brokers, web port)."""
    web_port = settings.processors_web_port
    # faust keeps table metadata on disk; keep it in the git-ignored local state folder.
    datadir = LOCAL_STATE_DIR / "faust" / settings.processors_faust_app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.processors_faust_app_id,
        broker=kafka_brokers(settings.kafka_bootstrap),
        broker_client_id=settings.processors_faust_app_id,
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        producer_compression_type="zstd",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_enabled=web_port > 0,
        web_port=web_port if web_port > 0 else None,
        autodiscover=False,
        datadir=str(datadir),
        # Stop (and rebalance) without waiting for the events in flight: every projection is
        # idempotent, so what was not committed is redelivered and folded again.
        stream_wait_empty=False,
        # A worker killed without a goodbye holds its partitions until the broker gives up on
        # it: 10 s rather than faust's 60 s (heartbeats stay at 3 s, a third of it).
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
    )
    client = redis if redis is not None else make_redis(settings)
    # One write-behind copy per agent: each is the only writer of its keys (write_behind.py);
    # the frames agent's steps write disjoint keys, so they share one copy and one flush.
    keys = settings.processors_cache_keys
    caches = {
        FRAMES_AGENT: WriteBehindRedis(client, max_keys=keys),
        **{n: WriteBehindRedis(client, max_keys=keys) for n in DOWNSTREAM},
    }

    def redis_for(step: str) -> WriteBehindRedis | Redis:
        if step in AGENTS:
            return caches[FRAMES_AGENT]
        return caches.get(step, client)  # the zombie sweep and the lookups read Redis itself

    outputs = KafkaOutputs(settings, client_id=f"{settings.processors_app_id}-outputs")
    processors = build_processors(settings, outputs, redis_for, RedisStationMessages(client))
    # One pass per event: the frames agent reads the frames and the CSMS's own policy
    # decisions (which only the transactions step acts on) in batches on librdkafka, decodes
    # each once and runs every step on it in partition order - the replay's loop
    # (csms.projections.pipeline.handle_frame) - outside faust's per-event path (ADR 0023).
    # The billing folds the processors' own output (transaction snapshots) the same way.
    topics = settings.topics
    consumers = [
        BatchConsumer(
            FRAMES_AGENT,
            settings,
            [topics.frames, topics.policy],
            settings.processors_app_id,
            partial(handle_frame, processors.steps),
            _writer(outputs, caches[FRAMES_AGENT]),
            caches[FRAMES_AGENT].reset,
            partial(prefetch_stations, caches[FRAMES_AGENT]),
        ),
        *(
            BatchConsumer(
                name,
                settings,
                [topics.transactions],
                settings.processors_billing_group,
                partial(handle_value, name, step=value_step),
                _writer(outputs, caches[name]),
                caches[name].reset,
            )
            for name, value_step in processors.downstream.items()
        ),
    ]
    for consumer in consumers:
        app.task(consumer.run)

    async def stop_consumers(sender: Any, *args: Any, **kwargs: Any) -> None:
        for consumer in consumers:
            consumer.stop()

    app.on_before_shutdown.connect(cast(Any, stop_consumers))

    async def sweep_zombies() -> None:
        await processors.sweep_zombies(system_clock())

    # on_leader: one worker of the group decides, not every replica.
    app.timer(settings.tx_sweep_interval_s, on_leader=True)(sweep_zombies)

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


def _writer(outputs: KafkaOutputs, cache: WriteBehindRedis) -> Callable[[], Awaitable[int]]:
    """An agent's end of batch: its outputs acknowledged by Kafka, then its Redis writes
    (ADR 0013). An output Kafka refused for good ends the process: its frames were not
    committed, so a restarted worker folds and sends them again."""

    async def write() -> int:
        try:
            await outputs.delivered()
        except OutputsLost:
            log.critical(
                "an output was not delivered to Kafka: exiting for a restart", exc_info=True
            )
            logging.shutdown()
            os._exit(70)
        return await cache.flush()

    return write
