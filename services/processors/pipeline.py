"""The processors' steps and their I/O edge, independent of faust.

`Processors` holds the stores and an `Outputs`; `Processors.steps` names one step per agent.
The faust app (`services.processors.app`) feeds each agent's stream through `handle`; the
replay (`csms replay`) feeds the same steps from a plain consumer with its own Outputs, so a
rebuilt read model is folded by exactly the code that keeps the live one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import orjson
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from csms.envelope import EnvelopeError, FrameEnvelope, decode
from csms.settings import Topics
from services.processors.projections import (
    StationStore,
    TransactionStore,
    project_status,
    project_transaction,
)

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

Step = Callable[[FrameEnvelope], Awaitable[bool]]


class Outputs(Protocol):
    """Where the steps publish their results (key = station id, value = orjson bytes)."""

    async def send(self, topic: str, key: bytes, value: bytes) -> None: ...


class Processors:
    """The I/O edge shared by the agents: stores, output topics, and one step per agent."""

    def __init__(
        self,
        topics: Topics,
        outputs: Outputs,
        *,
        transactions: TransactionStore,
        stations: StationStore,
    ) -> None:
        self.topics = topics
        self.outputs = outputs
        self.transactions = transactions
        self.stations = stations

    @property
    def steps(self) -> dict[str, Step]:
        """Agent name -> step; each agent consumes the frames topic from its own offsets."""
        return {"transactions": self.on_transactions, "status": self.on_status}

    async def on_transactions(self, env: FrameEnvelope) -> bool:
        tx = await project_transaction(env, self.transactions)
        if tx is None:
            return False
        value = orjson.dumps(tx.to_dict())
        await self.outputs.send(self.topics.transactions, tx.station.encode(), value)
        PUBLISHED.labels("transactions").inc()
        return True

    async def on_status(self, env: FrameEnvelope) -> bool:
        changed = await project_status(env, self.stations)
        for status in changed:
            value = orjson.dumps(dataclasses.asdict(status))
            await self.outputs.send(self.topics.status, status.station.encode(), value)
            PUBLISHED.labels("status").inc()
        return bool(changed)  # the outcome counts published statuses, not station-hash writes


async def handle(agent: str, raw: object, step: Step) -> None:
    """Run one projection step for one raw event, never letting it stop the stream."""
    try:
        env = decode(raw if isinstance(raw, bytes) else bytes(raw or b""))  # type: ignore[call-overload]
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
