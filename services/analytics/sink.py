"""The analytics sink: Kafka -> ClickHouse, batched, idempotent, at-least-once.

Consumes `ocpp.frames` (archive + meter values), `csms.transactions`, `csms.status` and
`csms.bills` (final bills), routes each event to rows (services.analytics.rows; frames in the
normal shape take services.analytics.fast_frames, equal to it by test), keeps the rows by column
(services.analytics.batch) and inserts a batch per table, column-oriented, once it is full
(Settings.analytics_batch_rows) or old enough (Settings.analytics_batch_seconds). Offsets are
committed only after every table of the batch is inserted, so a crash redelivers the batch - and
the ReplacingMergeTree tables collapse the duplicates (see the migrations). The same property
makes rebalances harmless: rows of a partition that moved to another consumer may be inserted
twice, never lost.

ClickHouse down or failing: the batch is retried with exponential backoff, nothing is committed,
and consumption pauses (Kafka keeps the events). Undecodable events are logged, counted and
skipped (their archivable part is kept); there is no dead-letter topic yet, so the event itself
stays only in the source topic, at the offset the log line names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from clickhouse_connect.driver.insert import InsertContext

from csms.domain.meter_values import flatten
from csms.infra.clickhouse import ClickHouse
from csms.settings import Settings
from services.analytics import metrics
from services.analytics.batch import Batch, Columns
from services.analytics.fast_frames import add_frame
from services.analytics.rows import (
    METER_VALUES,
    OCPP_FRAMES,
    TABLES,
    Flatten,
    Routed,
    Table,
    route_bill,
    route_frame,
    route_status,
    route_transaction,
)

log = logging.getLogger(__name__)

Route = Callable[[bytes | None], Routed]

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
# Once asked to stop, a failing ClickHouse gets this many more tries before the batch is
# abandoned uncommitted (it is redelivered on the next start).
SHUTDOWN_ATTEMPTS = 3
# Longest single wait for events, so a stop request is noticed promptly even with long batches.
POLL_MAX_S = 0.25
# optimize_on_insert=0: ClickHouse does not collapse duplicate keys inside each inserted block
# (a ReplacingMergeTree "merge" of the block); merges and FINAL still collapse them, which is
# the dedup contract (a redelivered event lands in a later batch anyway). A third less engine
# CPU per meter row (chDB, 50k rows: 2.0-2.3 µs instead of 2.9-3.2).
INSERT_SETTINGS: dict[str, Any] = {"optimize_on_insert": 0}


class EventSource(Protocol):
    """The part of AIOKafkaConsumer the sink uses (in-memory fakes in tests and benchmarks)."""

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    def assignment(self) -> set[TopicPartition]: ...

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None: ...


def _log_this_one(count: int) -> bool:
    """Log the first 10 occurrences of a problem, then every 1000th: a flood of bad events must
    not turn into a flood of log lines (the metric counts them all)."""
    return count <= 10 or count % 1000 == 0


class Sink:
    def __init__(
        self,
        settings: Settings,
        clickhouse: ClickHouse,
        consumer: EventSource,
        *,
        flatten_fn: Flatten = flatten,
        fast_path: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`fast_path`: frames in the normal shape skip the exact path (fast_frames, equal
        to it by test); off, or with another `flatten_fn`, every frame takes the exact path."""
        self._settings = settings
        self._ch = clickhouse
        self._consumer = consumer
        self._clock = clock
        topics = settings.topics
        self._routes: dict[str, Route] = {
            topics.frames: partial(route_frame, flatten_fn=flatten_fn),
            topics.transactions: route_transaction,
            topics.status: route_status,
            topics.bills: route_bill,
        }
        self._frames_topic = topics.frames
        self._fast_frames = fast_path and flatten_fn is flatten
        self._tables = {table.name: table for table in TABLES}
        self._contexts: dict[str, InsertContext] = {}
        self._problems: Tally[str] = Tally()
        self._abandoned = False

    @property
    def topics(self) -> list[str]:
        return list(self._routes)

    def _new_batch(self) -> Batch:
        return Batch(self._settings.analytics_batch_rows, self._settings.analytics_batch_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, then flush and commit what was consumed.

        One batch may be in flight (inserting on the engine thread) while the next one fills:
        decoding and inserting overlap. Batches are flushed strictly one after the other, so
        offsets are committed in order.
        """
        batch = self._new_batch()
        inflight: asyncio.Task[bool] | None = None
        try:
            while not stop.is_set():
                wait_s = min(batch.wait_s(self._clock()), POLL_MAX_S)
                polled = await self._consumer.getmany(timeout_ms=max(1, int(wait_s * 1000)))
                now = self._clock()
                for tp, records in polled.items():
                    if self._fast_frames and tp.topic == self._frames_topic:
                        self._add_frames(batch, tp, records, now)
                    else:
                        for record in records:
                            self._add(batch, tp, record, now)
                    # Counted per fetch: a labelled inc() per event was ~1 µs of each frame.
                    metrics.EVENTS.labels(tp.topic).inc(len(records))
                    self._record_lag(tp, records)
                if batch.ready(now):
                    if inflight is not None:
                        await inflight  # backpressure: at most one batch in flight
                    inflight = asyncio.create_task(self.flush(batch, stop))
                    batch = self._new_batch()
            if inflight is not None:
                await inflight
            await self.flush(batch, stop)
        finally:
            if inflight is not None and not inflight.done():
                # Only on an error (e.g. from Kafka): its offsets are simply not committed.
                inflight.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await inflight

    def _add_frames(
        self,
        batch: Batch,
        tp: TopicPartition,
        records: list[ConsumerRecord[Any, Any]],
        now: float,
    ) -> None:
        """Frames in the normal shape go straight into the batch's columns; the exact path
        takes the others (and names their problems)."""
        frames, meter = batch.columns(OCPP_FRAMES), batch.columns(METER_VALUES)
        for record in records:
            if add_frame(record.value, frames, meter):
                batch.note(tp, record.offset, now)
            else:
                self._add(batch, tp, record, now)

    def _add(
        self, batch: Batch, tp: TopicPartition, record: ConsumerRecord[Any, Any], now: float
    ) -> None:
        routed = self._routes[record.topic](record.value)
        if routed.problem:
            self._report(record, routed)
        batch.add(routed, tp, record.offset, now)

    def _report(self, record: ConsumerRecord[Any, Any], routed: Routed) -> None:
        metrics.UNDECODABLE.labels(record.topic, routed.problem).inc()
        key = f"{record.topic}:{routed.problem}"
        self._problems[key] += 1
        if _log_this_one(self._problems[key]):
            log.warning(
                "undecodable event %s[%d]@%d (%s, occurrence %d): %s; kept %d row(s)",
                record.topic,
                record.partition,
                record.offset,
                routed.problem,
                self._problems[key],
                routed.detail,
                routed.row_count,
            )

    def _record_lag(self, tp: TopicPartition, records: list[ConsumerRecord[Any, Any]]) -> None:
        highwater = self._consumer.highwater(tp)
        if highwater is not None and records:
            lag = highwater - (records[-1].offset + 1)
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)

    # -- flush -----------------------------------------------------------------------------------

    async def flush(self, batch: Batch, stop: asyncio.Event) -> bool:
        """Insert every table of `batch`, retrying while ClickHouse fails, then commit.

        Returns False when the sink was asked to stop before the inserts succeeded: the batch is
        then abandoned uncommitted and Kafka redelivers it.
        """
        if self._abandoned:
            return False  # an earlier batch is not in ClickHouse: never commit past it
        if batch.empty:
            return True
        # In TABLES order, whatever order the rows came in: the archive first.
        pending = {
            name: batch.tables[name]
            for name in self._tables
            if name in batch.tables and len(batch.tables[name])
        }
        delay = BACKOFF_INITIAL_S
        attempts_after_stop = 0
        while not await self._insert_pending(pending):
            if stop.is_set():
                attempts_after_stop += 1
                if attempts_after_stop >= SHUTDOWN_ATTEMPTS:
                    log.error(
                        "stopping with %d uncommitted event(s) not in ClickHouse; "
                        "they will be redelivered",
                        batch.events,
                    )
                    self._abandoned = True
                    return False
                await asyncio.sleep(min(delay, 1.0))
            else:
                # Sleep, but wake up at once when asked to stop.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        await self._commit(batch)
        metrics.BATCHES.inc()
        return True

    async def _insert_pending(self, pending: dict[str, Columns]) -> bool:
        """Insert table by table, dropping each from `pending` once in; False on a failure.

        Tables already inserted are not retried: fewer duplicates for the merges to collapse.
        """
        for name in list(pending):
            table = self._tables[name]
            try:
                await self._ch.run(self._insert_blocking, table, pending[name])
            except Exception as exc:  # noqa: BLE001 - any failure means "retry later"
                metrics.INSERT_FAILURES.labels(name).inc()
                self._contexts.pop(name, None)  # rebuild the context after any failure
                log.warning("insert into %s failed (will retry): %s", name, exc)
                return False
            metrics.ROWS_INSERTED.labels(name).inc(len(pending[name]))
            del pending[name]
        return True

    def _insert_blocking(self, table: Table, columns: Columns) -> None:
        """On the engine thread: one column-oriented insert. The batch is built by column;
        its whole-row tuples are folded in here, off the event loop (once: a retry finds them
        folded)."""
        started = time.perf_counter()
        context = self._contexts.get(table.name)
        if context is None:
            # One DESCRIBE per table per process instead of one per insert.
            context = self._ch.client.create_insert_context(
                table.name, list(table.columns), column_oriented=True, settings=INSERT_SETTINGS
            )
            self._contexts[table.name] = context
        self._ch.client.insert(data=columns.insert(), context=context)
        metrics.INSERT_SECONDS.labels(table.name).observe(time.perf_counter() - started)

    async def _commit(self, batch: Batch) -> None:
        assigned = self._consumer.assignment()
        offsets = {
            tp: offset
            for tp, offset in batch.offsets.items()
            if isinstance(tp, TopicPartition) and tp in assigned
        }
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # A rebalance took the partitions away: their new owner re-reads from the last
            # committed offset and re-inserts rows that collapse with ours.
            metrics.COMMIT_FAILURES.inc()
            log.warning("offset commit failed (events will be redelivered): %s", exc)
