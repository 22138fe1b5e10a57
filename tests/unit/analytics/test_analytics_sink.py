"""The sink loop against real chDB with an in-process fake consumer: batching, commit only
after inserts, retries while ClickHouse fails, undecodable events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from clickhouse_connect.driver.exceptions import OperationalError
from prometheus_client import REGISTRY

from csms.domain.model import ConnectorStatus
from csms.envelope import FrameEnvelope
from csms.infra.clickhouse import ClickHouse
from csms.settings import Settings, Topics
from services.analytics import sink as sink_module
from services.analytics.batch import Columns
from services.analytics.rows import route_frame
from services.analytics.sink import Sink
from tests.unit.domain.builders import T0, Session, meter_values16, mv16, sv16

TOPICS = Topics(prefix="unit.")


class FakeConsumer:
    """getmany() hands out what the test fed, one chunk per call; commits are recorded."""

    def __init__(self, log: list[str]) -> None:
        self._chunks: asyncio.Queue[list[ConsumerRecord[bytes, bytes]]] = asyncio.Queue()
        self._offsets: dict[TopicPartition, int] = {}
        self.commits: list[dict[TopicPartition, int]] = []
        self.log = log

    def feed(self, topic: str, *values: bytes | None, partition: int = 0) -> None:
        tp = TopicPartition(topic, partition)
        chunk = []
        for value in values:
            offset = self._offsets.get(tp, 0)
            self._offsets[tp] = offset + 1
            chunk.append(ConsumerRecord(topic, partition, offset, 0, 0, b"k", value, None, 1,
                                        len(value or b""), []))  # fmt: skip
        self._chunks.put_nowait(chunk)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        try:
            chunk = await asyncio.wait_for(self._chunks.get(), timeout_ms / 1000)
        except TimeoutError:
            return {}
        return {TopicPartition(chunk[0].topic, chunk[0].partition): chunk}

    def highwater(self, tp: TopicPartition) -> int:
        return self._offsets.get(tp, 0)

    def assignment(self) -> set[TopicPartition]:
        return set(self._offsets)

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        self.commits.append(dict(offsets or {}))
        self.log.append("commit")


class FlakyClickHouse:
    """The real engine behind a switch: while `failures` > 0 every insert fails, and so does
    every insert of rows that mention one of `poison` (e.g. an event id)."""

    def __init__(
        self,
        real: ClickHouse,
        log: list[str],
        failures: int = 0,
        poison: frozenset[str] = frozenset(),
    ) -> None:
        self._real = real
        self.client = real.client
        self.log = log
        self.failures = failures
        self.poison = poison

    async def run(self, fn: Callable[..., Any], table: Any, rows: Columns) -> Any:
        poisoned = any(value in self.poison for column in rows.insert() for value in column)
        if self.failures or poisoned:
            self.failures = max(0, self.failures - 1)
            self.log.append("insert failed")
            raise OperationalError("ClickHouse is down")
        result = await self._real.run(fn, table, rows)
        self.log.append("insert ok")
        return result


def _settings(rows: int = 50_000, seconds: float = 0.05) -> Settings:
    return Settings(topics=TOPICS, analytics_batch_rows=rows, analytics_batch_seconds=seconds)


def _frames(n: int = 2) -> list[FrameEnvelope]:
    s = Session("CP-7", "ocpp1.6")
    return [
        s.call("MeterValues", meter_values16(1, mv16(T0 + i, sv16(str(100 + i))), transaction_id=5))
        for i in range(n)
    ]


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def _committed(consumer: FakeConsumer) -> dict[TopicPartition, int]:
    """The offsets committed in the end, per partition."""
    committed: dict[TopicPartition, int] = {}
    for commit in consumer.commits:
        committed.update(commit)
    return committed


async def _run(sink: Sink, stop: asyncio.Event) -> asyncio.Task[None]:
    return asyncio.create_task(sink.run(stop))


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink_module, "BACKOFF_INITIAL_S", 0.01)


async def test_batch_inserted_then_committed(clickhouse: ClickHouse) -> None:
    log: list[str] = []
    consumer = FakeConsumer(log)
    sink = Sink(_settings(), FlakyClickHouse(clickhouse, log), consumer)  # type: ignore[arg-type]
    frames = _frames(2)
    status = ConnectorStatus("CP-7", 1, 1, "Occupied", "NoError", T0, "ocpp1.6", frames[0].id)
    consumer.feed(TOPICS.frames, *(f.encode() for f in frames))
    consumer.feed(TOPICS.status, orjson.dumps(asdict(status)))
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: len(_committed(consumer)) == 2)
    stop.set()
    await task
    assert _committed(consumer) == {
        TopicPartition(TOPICS.frames, 0): 2, TopicPartition(TOPICS.status, 0): 1,
    }  # fmt: skip
    client = clickhouse.client
    assert client.query(
        "SELECT event_id, station, action FROM ocpp_frames FINAL ORDER BY event_id"
    ).result_rows == [(f.id, "CP-7", "MeterValues") for f in frames]
    assert client.query(
        "SELECT toUnixTimestamp64Milli(ts), transaction_id, value, event_id FROM meter_values "
        "FINAL ORDER BY ts"
    ).result_rows == [(T0, "5", 100.0, frames[0].id), (T0 + 1, "5", 101.0, frames[1].id)]
    assert client.query("SELECT station, status, event_id FROM status_events").result_rows == [
        ("CP-7", "Occupied", frames[0].id)
    ]
    # Every commit came after the inserts of its batch.
    assert log.index("commit") > log.index("insert ok")


async def test_full_batch_is_flushed_before_its_time(clickhouse: ClickHouse) -> None:
    log: list[str] = []
    consumer = FakeConsumer(log)
    sink = Sink(_settings(rows=3, seconds=3600), clickhouse, consumer)
    consumer.feed(TOPICS.frames, *(f.encode() for f in _frames(2)))  # 2 frames + 2 samples
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: bool(consumer.commits))
    assert consumer.commits == [{TopicPartition(TOPICS.frames, 0): 2}]
    stop.set()
    await task


async def test_clickhouse_down_retries_and_commits_only_after_success(
    clickhouse: ClickHouse,
) -> None:
    log: list[str] = []
    consumer = FakeConsumer(log)
    flaky = FlakyClickHouse(clickhouse, log, failures=3)
    failures_before = _metric("csms_analytics_insert_failures_total", table="ocpp_frames")
    sink = Sink(_settings(), flaky, consumer)  # type: ignore[arg-type]
    consumer.feed(TOPICS.frames, *(f.encode() for f in _frames(1)))
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: bool(consumer.commits))
    stop.set()
    await task
    assert log == ["insert failed"] * 3 + ["insert ok", "insert ok", "commit"]
    assert _metric("csms_analytics_insert_failures_total", table="ocpp_frames") == (
        failures_before + 3
    )
    assert clickhouse.client.command("SELECT count() FROM meter_values FINAL") == 1


async def test_stop_while_clickhouse_is_down_commits_nothing(clickhouse: ClickHouse) -> None:
    log: list[str] = []
    consumer = FakeConsumer(log)
    first, second = _frames(2), _frames(2)
    # The first batch can never be inserted; the second could be, once it gets its turn.
    flaky = FlakyClickHouse(clickhouse, log, poison=frozenset(f.id for f in first))
    sink = Sink(_settings(rows=3, seconds=3600), flaky, consumer)  # type: ignore[arg-type]
    consumer.feed(TOPICS.frames, *(f.encode() for f in first))
    consumer.feed(TOPICS.frames, *(f.encode() for f in second))
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: log.count("insert failed") >= 2)
    stop.set()
    await asyncio.wait_for(task, 30)
    # The first batch is abandoned at shutdown, and the second must not be inserted and
    # committed past it: committing offset 4 would lose the first batch's events for good.
    assert consumer.commits == []
    assert "insert ok" not in log


async def test_undecodable_events_are_counted_skipped_and_committed(
    clickhouse: ClickHouse,
) -> None:
    consumer = FakeConsumer([])
    sink = Sink(_settings(), clickhouse, consumer)
    before_envelope = _metric(
        "csms_analytics_undecodable_events_total", topic=TOPICS.frames, reason="bad_envelope"
    )
    before_tx = _metric(
        "csms_analytics_undecodable_events_total",
        topic=TOPICS.transactions,
        reason="bad_transactions",
    )
    good = _frames(1)[0]
    consumer.feed(TOPICS.frames, b"\x00garbage", good.encode())
    consumer.feed(TOPICS.transactions, b'{"key": 1}')
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: sum(map(len, consumer.commits)) >= 2)
    stop.set()
    await task
    assert _committed(consumer) == {
        TopicPartition(TOPICS.frames, 0): 2, TopicPartition(TOPICS.transactions, 0): 1,
    }  # fmt: skip
    assert (
        _metric(
            "csms_analytics_undecodable_events_total", topic=TOPICS.frames, reason="bad_envelope"
        )
        == before_envelope + 1
    )
    assert (
        _metric(
            "csms_analytics_undecodable_events_total",
            topic=TOPICS.transactions,
            reason="bad_transactions",
        )
        == before_tx + 1
    )
    assert clickhouse.client.command("SELECT count() FROM ocpp_frames") == 1


@pytest.mark.parametrize("fast_path", [True, False])
async def test_one_batch_of_fast_and_exact_frames_holds_the_exact_rows(
    clickhouse: ClickHouse, fast_path: bool
) -> None:
    """Frames the fast path takes and frames it leaves to the exact path (a SignedData
    sample, a timestamp before 1970, a broken envelope) interleaved in one batch: ClickHouse
    holds exactly the exact path's rows, whichever path is on."""
    consumer = FakeConsumer([])
    sink = Sink(_settings(), clickhouse, consumer, fast_path=fast_path)
    s = Session("CP-9", "ocpp1.6")
    signed = sv16("0A1B", format="SignedData")
    envs = [
        *_frames(2),
        s.call("MeterValues", meter_values16(1, mv16(T0, sv16("1"), signed, sv16("2")))),
        s.call("MeterValues", meter_values16(1, mv16("1969-12-31T23:59:59Z", sv16("3")))),
        s.connect(),
        *_frames(1),
    ]
    raws = [env.encode() for env in envs]
    consumer.feed(TOPICS.frames, *raws[:3], b"\x00garbage", *raws[3:])
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: _committed(consumer) == {TopicPartition(TOPICS.frames, 0): 7})
    stop.set()
    await task
    expected = [row for raw in raws for row in route_frame(raw).rows.get("meter_values", [])]
    got = clickhouse.client.query(
        "SELECT toUnixTimestamp64Milli(ts), station, evse, connector, transaction_id, measurand, "
        "phase, location, unit, value, context, proto, event_id, sample_index FROM meter_values"
    ).result_rows
    assert sorted(map(tuple, got)) == sorted(expected)
    assert len(expected) == 5  # 3 normal frames, 2 of the SignedData one, none before 1970
    assert clickhouse.client.command("SELECT count() FROM ocpp_frames") == 6


async def test_a_frame_delivered_twice_in_one_batch_is_one_row_under_final(
    clickhouse: ClickHouse,
) -> None:
    """Blocks are inserted without optimize_on_insert (sink.INSERT_SETTINGS): both copies are
    stored until a merge, and FINAL - the dedup contract - reads one."""
    consumer = FakeConsumer([])
    sink = Sink(_settings(), clickhouse, consumer)
    raw = _frames(1)[0].encode()
    consumer.feed(TOPICS.frames, raw, raw)
    stop = asyncio.Event()
    task = await _run(sink, stop)
    await _until(lambda: _committed(consumer) == {TopicPartition(TOPICS.frames, 0): 2})
    stop.set()
    await task
    count = clickhouse.client.command
    assert count("SELECT count() FROM meter_values") == 2
    assert count("SELECT count() FROM ocpp_frames") == 2
    assert count("SELECT count() FROM meter_values FINAL") == 1
    assert count("SELECT count() FROM ocpp_frames FINAL") == 1
