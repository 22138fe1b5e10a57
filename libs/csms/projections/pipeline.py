"""The processors' steps and their I/O edge, independent of faust.

`Processors` holds the stores and an `Outputs`; `Processors.steps` names one step per agent.
The faust app (`services.processors.app`) feeds each event through `handle_frame`; the
replay (`csms replay`) feeds the same steps from a plain consumer with its own Outputs, so a
rebuilt read model is folded by exactly the code that keeps the live one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson
from prometheus_client import Counter, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from csms.domain import transactions as txp
from csms.domain.inference16 import RulesRegistry
from csms.envelope import EnvelopeError, FrameEnvelope, decode, new_event_id
from csms.infra.redis_keys import inference16
from csms.projections.billing import BillingStep
from csms.projections.device_models import DeviceModelStore, project_device_model
from csms.projections.inference import InferenceStore, project_inference
from csms.projections.status import StationStore, project_status
from csms.projections.transactions import TransactionStore, project_transaction
from csms.projections.write_behind import WriteBehindRedis
from csms.readmodels.device_models import device_model_key
from csms.readmodels.stations import connectors_key, station_key
from csms.readmodels.transactions import station_active_key
from csms.settings import Topics

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

BATCHES = Histogram(
    "csms_processor_batch_events",
    "Events per batch an agent folded before flushing its Redis writes.",
    ["agent"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000),
)
ZOMBIES = Counter(
    "csms_processor_zombie_transactions_closed_total",
    "Active transactions closed by the zombie policy (csms.policy CloseTransaction).",
)

_MAX_BACKOFF_S = 5.0
# The agents, in `Processors.steps` order, then the downstream ones (`Processors.downstream`).
AGENTS = ("transactions", "status", "device_model", "inference16")
DOWNSTREAM = ("billing",)
INFRA_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)

Step = Callable[[FrameEnvelope], Awaitable[bool]]
# A downstream agent's step: one decoded JSON record of a processors' output topic.
ValueStep = Callable[[dict[str, Any]], Awaitable[bool]]


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
        device_models: DeviceModelStore,
        inference: InferenceStore,
        rules: RulesRegistry | None = None,
        policy: ZombiePolicy | None = None,
        zombie_store: TransactionStore | None = None,
        billing: BillingStep | None = None,
    ) -> None:
        self.topics = topics
        self.outputs = outputs
        self.transactions = transactions
        self.stations = stations
        self.device_models = device_models
        self.inference = inference
        self.rules = rules if rules is not None else RulesRegistry()
        self.policy = policy if policy is not None else ZombiePolicy()
        # The sweep reads every worker's transactions: straight from Redis, never through the
        # transactions agent's write-behind copy (valid only for its own partitions).
        self.zombie_store = zombie_store if zombie_store is not None else transactions
        self.billing = billing
        # The latest gateway time among the frames folded here: the policy's clock, so that
        # processors catching up on a backlog never take old sessions for silent ones.
        self.stream_ms = 0

    @property
    def steps(self) -> dict[str, Step]:  # names: AGENTS
        """Agent name -> step; each agent consumes the frames topic from its own offsets."""
        return {
            "transactions": self.on_transactions,
            "status": self.on_status,
            "device_model": self.on_device_model,
            "inference16": self.on_inference16,
        }

    @property
    def downstream(self) -> dict[str, ValueStep]:  # names: DOWNSTREAM
        """Agent name -> step over the transactions topic (the processors' own output)."""
        return {"billing": self.on_billing}

    async def on_transactions(self, env: FrameEnvelope) -> bool:
        if env.kind != "policy":
            self.stream_ms = max(self.stream_ms, env.ts)
        projected = await project_transaction(env, self.transactions)
        topic = self.topics.transactions
        for tx in projected.snapshots:
            snap = txp.snapshot(tx)
            readings = projected.readings.get(tx.key)
            if readings:  # the frame's own energy readings, for the billing's tariff periods
                snap["readings"] = [[r.ts_ms, r.wh] for r in readings]
            await self.outputs.send(topic, tx.station.encode(), orjson.dumps(snap))
        for event in projected.events:
            await self.outputs.send(topic, env.station.encode(), orjson.dumps(event))
        _tally(_published("transactions"), len(projected.snapshots) + len(projected.events))
        return bool(projected)

    async def on_billing(self, record: dict[str, Any]) -> bool:
        if self.billing is None:
            return False
        billed = await self.billing.on_snapshot(record)
        if billed.publish is not None:
            station = str(billed.publish["station"]).encode()
            await self.outputs.send(self.topics.bills, station, orjson.dumps(billed.publish))
            _published("billing").inc()
        return billed.changed

    async def on_status(self, env: FrameEnvelope) -> bool:
        changed = await project_status(env, self.stations)
        for status in changed:
            value = orjson.dumps(status)  # a flat dataclass: the same JSON as asdict
            await self.outputs.send(self.topics.status, status.station.encode(), value)
            _tally(_published("status"))
        return bool(changed)  # the outcome counts published statuses, not station-hash writes

    async def on_device_model(self, env: FrameEnvelope) -> bool:
        return await project_device_model(env, self.device_models)  # Redis only: no topic

    async def on_inference16(self, env: FrameEnvelope) -> bool:
        events = await project_inference(env, self.inference, self.rules)
        for event in events:
            value = orjson.dumps(event)
            await self.outputs.send(self.topics.transactions, env.station.encode(), value)
        _tally(_published("inference16"), len(events))
        return bool(events)

    async def sweep_zombies(self, wall_ms: int) -> int:
        """Close by policy the active transactions the station has let go silent: one
        `csms.policy` envelope each, which the transactions step folds like a frame (so a
        replay closes them the same way). "Now" is the wall clock, but never ahead of the
        frames folded so far (`stream_ms`; nothing folded yet: no sweep). Returns how many
        were closed."""
        if self.stream_ms == 0:
            return 0
        now_ms = min(wall_ms, self.stream_ms)
        p = self.policy
        horizon = now_ms - min(p.idle_after_ms, p.reboot_grace_ms)
        closed = 0
        for key in await self.zombie_store.stale_keys(horizon, p.batch):
            tx = await self.zombie_store.load(key)
            if tx is None:
                continue
            reason = txp.zombie_reason(
                tx, now_ms, idle_after_ms=p.idle_after_ms, reboot_grace_ms=p.reboot_grace_ms
            )
            if not reason:
                continue
            env = txp.policy_close(tx, reason, now_ms, new_event_id(now_ms))
            await self.outputs.send(self.topics.policy, tx.station.encode(), env.encode())
            closed += 1
        ZOMBIES.inc(closed)
        return closed


class InProcessDownstream:
    """Outputs that also hand every transactions-topic record straight to the downstream
    steps (the billing), in this process: the replay's way to fold the billing over the
    snapshots it republishes, in the order the live billing agent would read them."""

    def __init__(self, outputs: Outputs, topics: Topics) -> None:
        self._outputs = outputs
        self._topic = topics.transactions
        self.processors: Processors | None = None  # set once built (they take these outputs)

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        await self._outputs.send(topic, key, value)
        if topic == self._topic and self.processors is not None:
            for name, step in self.processors.downstream.items():
                await handle_value(name, value, step)


@dataclass(frozen=True, slots=True)
class ZombiePolicy:
    """When the processors close a transaction the station never closed (Settings.tx_*)."""

    idle_after_ms: int = 48 * 3_600_000
    reboot_grace_ms: int = 900_000
    batch: int = 1000  # transactions looked at per sweep, oldest sign of life first


def prefetch_stations(cache: WriteBehindRedis, stations: Iterable[str]) -> Awaitable[int]:
    """Every key the frames agent's steps read for any frame of these stations, loaded into the
    agent's write-behind copy in one round trip (the batch's stations; their records' key is
    the station): after a start or a rebalance each station costs one round trip per batch
    rather than one per key (five) at first read. Keys already in memory are skipped."""
    ids = list(stations)
    return cache.prefetch(
        strings=[device_model_key(s) for s in ids],
        hashes=[h for s in ids for h in (station_key(s), connectors_key(s), inference16(s))],
        sets=[station_active_key(s) for s in ids],
    )


async def handle_frame(steps: dict[str, Step], raw: object) -> None:
    """One pass over one raw event: decoded once, then every step in order (the steps keep
    disjoint state, so one after the other is the same as side by side). A step that raises
    is logged and counted under its own name; the others still run."""
    env = decode_event(steps, raw)
    if env is not None:
        for name, step in steps.items():
            await _run(name, step, env)


def decode_event(agents: Iterable[str], raw: object) -> FrameEnvelope | None:
    """The envelope, or None for a bad one (counted for each agent that skips it)."""
    try:
        return decode(raw if isinstance(raw, bytes) else bytes(raw or b""))  # type: ignore[call-overload]
    except EnvelopeError as exc:
        for agent in agents:
            _outcome(agent, "bad_envelope").inc()
        log.warning("skipping bad envelope: %s", exc)
        return None


async def handle_env(agent: str, env: FrameEnvelope, step: Step) -> None:
    """One step for one decoded envelope: a projection bug is logged, counted and skipped."""
    await _run(agent, step, env)


async def handle_value(agent: str, raw: object, step: ValueStep) -> None:
    """One step of a downstream agent (its input is a processors' output topic, one JSON
    object per record): a bad record or a projection bug is logged, counted and skipped."""
    try:
        value = orjson.loads(raw if isinstance(raw, bytes) else bytes(raw or b""))  # type: ignore[call-overload]
    except (orjson.JSONDecodeError, TypeError) as exc:
        _outcome(agent, "bad_envelope").inc()
        log.warning("%s: skipping a record that is no JSON: %s", agent, exc)
        return
    if not isinstance(value, dict):
        _outcome(agent, "bad_envelope").inc()
        return
    await _run(agent, step, value)


async def _run(agent: str, step: Callable[[Any], Awaitable[bool]], item: Any) -> None:
    """`step(item)`, counted; retried while Redis is away (retry_infra), logged and skipped if
    it raises anything else. The first try is called here directly: this runs for every step of
    every frame, and each extra coroutine level costs more than most steps' own checks."""
    try:
        try:
            changed = await step(item)
        except INFRA_ERRORS:
            changed = await retry_infra(agent, functools.partial(step, item))
    except Exception:
        _outcome(agent, "failed").inc()
        log.exception("%s: skipping %s", agent, _what(item))
        return
    _tally(_outcome(agent, "changed" if changed else "unchanged"))


def _what(item: Any) -> str:
    """The failed item, for the log: an envelope's id and station, a record's key."""
    if isinstance(item, FrameEnvelope):
        return f"event {item.id} of station {item.station}"
    return f"record {str(item.get('key'))[:80]}"


# The counts of every step and frame, added up here and into their Prometheus counters once
# per batch (publish_counts): an increment (a lock) per step per frame was ≈ 5 % of the steps.
_PENDING: dict[Any, int] = {}


def _tally(counter: Any, n: int = 1) -> None:
    if n:
        _PENDING[counter] = _PENDING.get(counter, 0) + n


def publish_counts() -> None:
    """Add the tallied counts to their Prometheus counters (at the end of each batch)."""
    pending = list(_PENDING.items())
    _PENDING.clear()
    for counter, n in pending:
        counter.inc(n)


@functools.cache
def _published(agent: str) -> Any:
    return PUBLISHED.labels(agent)


@functools.cache
def _outcome(agent: str, outcome: str) -> Any:
    """The counter child (labels() costs more than the increment on this path)."""
    return EVENTS.labels(agent, outcome)


async def handle_batch(
    agent: str,
    raws: Sequence[object],
    handle_one: Callable[[object], Awaitable[None]],
    flush: Callable[[], Awaitable[int]],
) -> None:
    """A batch of events through `handle_one` (`handle_frame` or `handle_value` bound to the
    agent's steps), then their outputs and Redis writes in one go (`flush`: Kafka's acks, then
    csms.projections.write_behind): the caller acks the events only after this returns."""
    for raw in raws:
        await handle_one(raw)
    await retry_infra(agent, flush)
    BATCHES.labels(agent).observe(len(raws))
    publish_counts()


T = TypeVar("T")


async def retry_infra(agent: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` until Redis answers: an unreachable Redis pauses the agent rather than skipping
    events (which would silently lose read-model updates)."""
    backoff = 0.1
    while True:
        try:
            return await call()
        except INFRA_ERRORS as exc:
            REDIS_RETRIES.inc()
            log.warning("%s: Redis unavailable (%s), retrying in %.1fs", agent, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)
