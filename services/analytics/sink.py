"""The analytics sink: Kafka -> ClickHouse, batched, idempotent, at-least-once.

Consumes `ocpp.frames` (archive + meter values), `csms.transactions`, `csms.status` and
`csms.bills` (final bills), routes each event to rows (services.analytics.rows), and inserts a
batch per table once it is full (Settings.analytics_batch_rows) or old enough
(Settings.analytics_batch_seconds). Offsets are committed only after every table of the batch
is inserted, so a crash redelivers the batch - and the ReplacingMergeTree tables collapse the
duplicates (see the migrations). The same property makes rebalances harmless: rows of a
partition that moved to another consumer may be inserted twice, never lost.

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
from services.analytics.batch import Batch, to_columns
from services.analytics.rows import (
    TABLES,
    Flatten,
    Routed,
    Row,
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
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
                    for record in records:
                        self._add(batch, tp, record, now)
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

    def _add(
        self, batch: Batch, tp: TopicPartition, record: ConsumerRecord[Any, Any], now: float
    ) -> None:
        routed = self._routes[record.topic](record.value)
        metrics.EVENTS.labels(record.topic).inc()
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
        pending = {name: rows for name, rows in batch.rows.items() if rows}
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

    async def _insert_pending(self, pending: dict[str, list[Row]]) -> bool:
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

    def _insert_blocking(self, table: Table, rows: list[Row]) -> None:
        """On the engine thread: pivot to columns and insert (the pivot is CPU work too)."""
        started = time.perf_counter()
        context = self._contexts.get(table.name)
        if context is None:
            # One DESCRIBE per table per process instead of one per insert.
            context = self._ch.client.create_insert_context(
                table.name, list(table.columns), column_oriented=True
            )
            self._contexts[table.name] = context
        self._ch.client.insert(data=to_columns(rows), context=context)
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
