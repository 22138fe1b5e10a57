"""The analytics sink for real: events on the local Kafka (unique topic prefix), the sink
in-process against embedded chDB in a tmp dir, every table checked exactly, a full redelivery
shown not to double anything, and the data read back through the local ClickHouse HTTP
endpoint with httpx and clickhouse_connect."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from csms.domain.model import ConnectorStatus, Transaction
from csms.envelope import FrameEnvelope
from csms.infra.kafka import ensure_topics, make_producer
from csms.settings import Settings
from services.analytics.main import AnalyticsService, run_async
from tests.stack.sink_helpers import Query, delete_topics, eventually, in_process, sink_settings
from tests.unit.domain.builders import (
    T0,
    Session,
    meter_values16,
    mv16,
    mv201,
    sv16,
    sv201,
    transaction_event,
)

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:8]
ST16 = f"CP16-{RUN}"
ST201 = f"CP201-{RUN}"

METER_SQL = (
    "SELECT toUnixTimestamp64Milli(ts), station, evse, connector, transaction_id, measurand, "
    "phase, location, unit, value, context, proto, event_id, sample_index "
    "FROM meter_values FINAL ORDER BY station, ts, sample_index"
)
FRAMES_SQL = (
    "SELECT event_id, toUnixTimestamp64Milli(ts), station, gateway, conn, proto, dir, kind, uid, "
    "action, frame, err FROM ocpp_frames FINAL ORDER BY station, ts"
)
TX_SQL = (
    "SELECT key, station, transaction_id, proto, evse, connector, id_token, state, started_ms, "
    "ended_ms, meter_start_wh, meter_stop_wh, meter_start_ms, meter_stop_ms, energy_wh, "
    "stop_reason, updated_ms FROM transactions FINAL"
)
STATUS_SQL = (
    "SELECT toUnixTimestamp64Milli(ts), station, evse, connector, status, error_code, proto, "
    "event_id FROM status_events FINAL"
)


class Events:
    """One of each kind of event the sink consumes, built once per test run."""

    def __init__(self) -> None:
        s16 = Session(ST16, "ocpp1.6")
        self.connect = s16.connect()
        self.mv16 = s16.call(
            "MeterValues",
            meter_values16(
                1,
                mv16(T0, sv16("1500.5"), sv16("16.2", measurand="Current.Import", unit="A",
                                              phase="L1")),
                transaction_id=42,
            ),
        )  # fmt: skip
        s201 = Session(ST201, "ocpp2.0.1")
        self.te201 = s201.call(
            "TransactionEvent",
            transaction_event(
                "Updated", "TX-9", 1, T0 + 60_000, evse=(2, 1),
                meter_values=[mv201(T0 + 60_000, sv201(12.5, unit="kWh"),
                                    sv201(74, measurand="Power.Active.Import", unit="W",
                                          multiplier=2))],
            ),
        )  # fmt: skip
        self.transaction = Transaction(
            key=f"{ST16}/42", station=ST16, transaction_id="42", proto="ocpp1.6", evse=1,
            connector=1, id_token="TAG-1", state="ended", started_ms=T0,
            ended_ms=T0 + 3_600_000, meter_start_wh=1000.0, meter_stop_wh=12000.5,
            meter_start_ms=T0, meter_stop_ms=T0 + 3_599_000, energy_wh=11000.5,
            stop_reason="Local", updated_ms=T0 + 3_600_000,
        )  # fmt: skip
        self.status = ConnectorStatus(
            ST201, 2, 1, "Occupied", "", T0 + 60_000, "ocpp2.0.1", self.te201.id
        )

    def frames(self) -> list[FrameEnvelope]:
        return [self.connect, self.mv16, self.te201]


def expected_meter_rows(ev: Events) -> list[tuple[Any, ...]]:
    return [
        (T0, ST16, 1, 1, "42", "Energy.Active.Import.Register", "", "Outlet", "Wh", 1500.5,
         "Sample.Periodic", "ocpp1.6", ev.mv16.id, 0),
        (T0, ST16, 1, 1, "42", "Current.Import", "L1", "Outlet", "A", 16.2,
         "Sample.Periodic", "ocpp1.6", ev.mv16.id, 1),
        (T0 + 60_000, ST201, 2, 1, "TX-9", "Energy.Active.Import.Register", "", "Outlet", "kWh",
         12.5, "Sample.Periodic", "ocpp2.0.1", ev.te201.id, 0),
        (T0 + 60_000, ST201, 2, 1, "TX-9", "Power.Active.Import", "", "Outlet", "W", 7400.0,
         "Sample.Periodic", "ocpp2.0.1", ev.te201.id, 1),
    ]  # fmt: skip


def expected_frame_rows(ev: Events) -> list[tuple[Any, ...]]:
    return [
        (e.id, e.ts, e.station, e.gw, e.conn, e.proto, e.dir, e.kind, e.uid, e.action, e.frame,
         e.err)
        for e in sorted(ev.frames(), key=lambda e: (e.station, e.ts))
    ]  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sink_settings(tmp_path, f"analytics-{RUN}")


@pytest.fixture
async def published(settings: Settings) -> AsyncIterator[Events]:
    await ensure_topics(settings)
    events = Events()
    producer = make_producer(settings, client_id=f"test-analytics-{RUN}")
    await producer.start()
    try:
        t = settings.topics
        for env in events.frames():
            await producer.send_and_wait(t.frames, env.encode(), key=env.key())
        await producer.send_and_wait(t.frames, b"not an envelope", key=ST16.encode())
        await producer.send_and_wait(
            t.transactions, orjson.dumps(events.transaction.to_dict()), key=ST16.encode()
        )
        await producer.send_and_wait(
            t.status, orjson.dumps(asdict(events.status)), key=ST201.encode()
        )
    finally:
        await producer.stop()
    yield events
    await delete_topics(settings)


EXPECTED_COUNTS = {"ocpp_frames": 3, "meter_values": 4, "transactions": 1, "status_events": 1}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _inserted() -> dict[str, float]:
    return {
        table: _metric("csms_analytics_rows_inserted_total", table=table)
        for table in ("ocpp_frames", "meter_values", "transactions", "status_events")
    }


def over_http(port: int) -> Query:
    """Queries through the local endpoint with clickhouse_connect, as an analyst would."""

    def blocking(sql: str) -> list[tuple[Any, ...]]:
        client = clickhouse_connect.get_client(host="127.0.0.1", port=port)
        try:
            return [tuple(row) for row in client.query(sql).result_rows]
        finally:
            client.close()

    async def query(sql: str) -> list[tuple[Any, ...]]:
        # In a thread: the endpoint answers on this event loop.
        return await asyncio.to_thread(blocking, sql)

    return query


async def _assert_tables(query: Query, ev: Events) -> None:
    assert await query(METER_SQL) == expected_meter_rows(ev)
    assert await query(FRAMES_SQL) == expected_frame_rows(ev)
    tx = ev.transaction
    assert await query(TX_SQL) == [
        (tx.key, ST16, "42", "ocpp1.6", 1, 1, "TAG-1", "ended", T0, T0 + 3_600_000, 1000.0,
         12000.5, T0, T0 + 3_599_000, 11000.5, "Local", T0 + 3_600_000),
    ]  # fmt: skip
    assert await query(STATUS_SQL) == [
        (T0 + 60_000, ST201, 2, 1, "Occupied", "", "ocpp2.0.1", ev.te201.id)
    ]


async def test_sink_writes_every_table_idempotently(settings: Settings, published: Events) -> None:
    ev = published
    bad_before = _metric(
        "csms_analytics_undecodable_events_total",
        topic=settings.topics.frames,
        reason="bad_envelope",
    )
    service = AnalyticsService(settings)
    await service.start()
    try:

        async def all_rows_in() -> bool:
            counts = await in_process(service)(
                "SELECT (SELECT count() FROM meter_values FINAL), "
                "(SELECT count() FROM ocpp_frames FINAL), (SELECT count() FROM transactions), "
                "(SELECT count() FROM status_events)",
            )
            return counts == [(4, 3, 1, 1)]

        await eventually(all_rows_in, "all rows of the first delivery")
        await _assert_tables(in_process(service), ev)

        async def bad_envelope_counted() -> bool:
            now = _metric(
                "csms_analytics_undecodable_events_total",
                topic=settings.topics.frames,
                reason="bad_envelope",
            )
            return now == bad_before + 1

        await eventually(bad_envelope_counted, "the bad envelope counted, once")
        await _check_http_endpoint(service.http_port, ev)
    finally:
        await service.stop()

    # Redelivery: a fresh consumer group reads every event again from offset 0 into the same
    # chDB, through run_async as `csms analytics` runs it. The rows are inserted a second time
    # and must collapse; this time the tables are read through the HTTP endpoint.
    before = _inserted()
    port = _free_port()
    stop = asyncio.Event()
    replay_settings = replace(
        settings, analytics_group_id=f"analytics-{RUN}-replay", clickhouse_http_port=port
    )
    replay = asyncio.create_task(run_async(replay_settings, stop))
    try:

        async def replayed() -> bool:
            if replay.done():
                replay.result()  # surfaces a startup failure
            now = _inserted()
            return all(now[t] - before[t] >= n for t, n in EXPECTED_COUNTS.items())

        await eventually(replayed, "every event inserted a second time")
        query = over_http(port)
        await _assert_tables(query, ev)
        raw = await query("SELECT count() FROM meter_values")
        assert raw[0][0] in (4, 8)  # 8 until a background merge collapses the copies
    finally:
        stop.set()
        await replay


async def _check_http_endpoint(port: int, ev: Events) -> None:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/ping")).text == "Ok.\n"
        count = await http.get("/", params={"query": "SELECT count() FROM meter_values FINAL"})
        assert (count.status_code, count.text) == (200, "4\n")
        posted = await http.post(
            "/",
            content=b"SELECT station, sum(value) AS total FROM meter_values FINAL "
            b"WHERE measurand = 'Energy.Active.Import.Register' "
            b"GROUP BY station ORDER BY station FORMAT JSONEachRow",
        )
        assert [orjson.loads(line) for line in posted.text.splitlines()] == [
            {"station": ST16, "total": 1500.5},
            {"station": ST201, "total": 12.5},
        ]
        metrics = await http.get("/metrics")
        assert 'csms_analytics_rows_inserted_total{table="meter_values"}' in metrics.text

    def with_clickhouse_connect() -> tuple[Any, ...]:
        client = clickhouse_connect.get_client(host="127.0.0.1", port=port)
        try:
            rows = client.query(
                "SELECT event_id, sample_index, value FROM meter_values FINAL "
                "WHERE station = {st:String} ORDER BY sample_index",
                parameters={"st": ST201},
            ).result_rows
            frames = client.query_df("SELECT kind FROM ocpp_frames FINAL ORDER BY station, ts")
            tx_state = client.command("SELECT argMax(state, updated_ms) FROM transactions")
            # An analyst's own table, written with clickhouse_connect's lz4-compressed Native
            # inserts through the endpoint.
            client.command(
                "CREATE TABLE scratch (ts DateTime64(3, 'UTC'), station LowCardinality(String), "
                "kwh Nullable(Float64)) ENGINE = MergeTree ORDER BY ts"
            )
            client.insert(
                "scratch",
                [[T0, ST16, 1.5], [T0 + 1, ST201, None]],
                column_names=["ts", "station", "kwh"],
            )
            scratch = client.query(
                "SELECT toUnixTimestamp64Milli(ts), station, kwh FROM scratch ORDER BY ts"
            ).result_rows
            # A large insert is streamed as many lz4 frames: every one must land (the endpoint
            # once kept only the first, silently).
            big = [[T0 + n, ST16, float(n)] for n in range(300_000)]
            client.insert("scratch", big, column_names=["ts", "station", "kwh"])
            landed = client.query("SELECT count(), sum(kwh) FROM scratch WHERE kwh >= 0")
            return rows, list(frames["kind"]), tx_state, [*scratch, *landed.result_rows]
        finally:
            client.close()

    rows, kinds, tx_state, scratch = await asyncio.to_thread(with_clickhouse_connect)
    assert rows == [(ev.te201.id, 0, 12.5), (ev.te201.id, 1, 7400.0)]
    assert kinds == ["connect", "call", "call"]
    assert tx_state == "ended"
    everything = (300_001, 1.5 + sum(range(300_000)))  # the small insert's 1.5 row, and the big
    assert scratch == [(T0, ST16, 1.5), (T0 + 1, ST201, None), everything]
