"""The faust-streaming app: agents that keep the Redis read models current.

The `frames` agent reads `ocpp.frames` (and `csms.policy`), decodes each event once and runs
these steps on it, in partition order:
* `transactions` - the neutral Transaction projection -> Redis, and on `csms.transactions`
  (key = station) every changed snapshot (csms.domain.transactions.snapshot) and one neutral
  event per 2.x TransactionEvent (neutral_event).
* `status` - station and connector status -> Redis, and every changed ConnectorStatus on
  `csms.status` (key = station, value = orjson of dataclasses.asdict(ConnectorStatus)).
* `device_model` - each station's device model (csms.projections.device_models) -> Redis
  `csms:dm:<station>`; publishes nothing.
* `inference16` - 2.0.1-style events inferred from 1.6 frames (csms.projections.inference)
  -> `csms.transactions`, state in `csms:inf16:<station>`.
The leader's timer closes zombie transactions through `csms.policy` (ADR 0012).

Each agent folds its events in batches and writes Redis through its own write-behind copy
(csms.projections.write_behind), flushed before the batch is acked (noack_take: a batch cut
short by a stop is never acked, so it is redelivered).

Processors never write ClickHouse: the analytics sink consumes those topics. Each agent decodes,
calls the pure projection and writes the result; a bad envelope or a projection bug is logged,
counted and skipped (the stream must go on), while Redis being unreachable pauses the agent
until it is back (skipping would silently lose read-model updates). Delivery is at least once
(an agent's outputs, on librdkafka, are acknowledged before its events are); the projections are
idempotent, so redelivery changes nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, cast

import faust
from faust.types import EventT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis

from csms.clock import system_clock
from csms.infra.kafka_outputs import KafkaOutputs, OutputsLost
from csms.infra.redis_client import make_redis
from csms.projections.pipeline import (
    AGENTS,
    DOWNSTREAM,
    handle_batch,
    handle_frame,
    handle_value,
    retry_infra,
)
from csms.projections.wiring import build_processors
from csms.projections.write_behind import WriteBehindRedis
from csms.settings import LOCAL_STATE_DIR, Settings
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
    caches = {
        FRAMES_AGENT: WriteBehindRedis(client),
        **{n: WriteBehindRedis(client) for n in DOWNSTREAM},
    }

    def redis_for(step: str) -> WriteBehindRedis | Redis:
        if step in AGENTS:
            return caches[FRAMES_AGENT]
        return caches.get(step, client)  # the zombie sweep and the lookups read Redis itself

    outputs = KafkaOutputs(settings, client_id=f"{settings.processors_app_id}-outputs")
    processors = build_processors(settings, outputs, redis_for, RedisStationMessages(client))
    # One pass per event: the frames agent reads the frames and the CSMS's own policy decisions
    # (which only the transactions step acts on), decodes each once and runs every step on it
    # in partition order - the replay's loop (csms.projections.pipeline.handle_frame).
    inputs = app.topic(settings.topics.frames, settings.topics.policy, **RAW)
    batching = (settings.processors_batch_max, settings.processors_batch_s)
    one_pass = partial(handle_frame, processors.steps)
    writer = _writer(outputs, caches[FRAMES_AGENT])
    app.agent(inputs, name=FRAMES_AGENT)(_agent(FRAMES_AGENT, one_pass, writer, batching))
    # Downstream agents fold the processors' own output (the billing: transaction snapshots).
    snapshots = app.topic(settings.topics.transactions, **RAW)
    for name, value_step in processors.downstream.items():
        one = partial(handle_value, name, step=value_step)
        app.agent(snapshots, name=name)(_agent(name, one, _writer(outputs, caches[name]), batching))

    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Another worker may own those stations next: write out, then forget the copies.
        for cache in caches.values():
            await retry_infra("rebalance", cache.flush)
            cache.reset()

    app.on_partitions_revoked.connect(cast(Any, on_revoked))

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


def _agent(
    name: str,
    handle_one: Callable[[object], Awaitable[None]],
    write: Callable[[], Awaitable[int]],
    batching: tuple[int, float],
) -> Any:
    async def agent(stream: faust.Stream[bytes]) -> None:
        # noack_take(), not take(): take() acks a batch in a `finally`, so an agent cancelled
        # mid-batch (SIGTERM) had its events acked and committed on the way out while their
        # Redis writes were never flushed - a replay disagreed with the live state. Here a
        # batch is acked only once its outputs and writes are done; a cancelled one is
        # redelivered.
        async for taken in stream.noack_take(*batching):
            events = cast(Sequence[EventT[bytes]], taken)  # typed as values, yields events
            await handle_batch(name, [event.value for event in events], handle_one, write)
            for event in events:
                await stream.ack(event)

    agent.__name__ = name
    return agent
