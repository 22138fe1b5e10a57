"""The analytics sink on the real path: local Kafka -> `csms analytics` (its own process, embedded
ClickHouse in a temp dir) -> queryable over its ClickHouse HTTP interface.

    python -m loadtests.analytics_bench backlog --frames 300000 [--exact]
    python -m loadtests.analytics_bench backlog --frames 40000 --samples-per-frame 10
    python -m loadtests.analytics_bench paced --rate 2572 --seconds 60

The frames are the replay benchmark's realistic stations (loadtests.corpus: 1.6 and 2.0.1,
boots, statuses, sessions with a meter value a minute - MeterValues / TransactionEvent with
their samples), as the gateway records them.

`backlog`: N frames are in the topic before the sink starts; rows/s into ClickHouse (every table)
from its first insert to the last. With `--samples-per-frame N` the frames are synthetic 1.6
MeterValues of N samples each (the in-process benchmarks.sink_bench's load, on the real path).
`paced`: the sink runs, frames arrive at --rate for --seconds;
every 25th frame's Kafka-ack time is noted, and the frame counts as queryable when
`SELECT … FROM ocpp_frames WHERE event_id IN (…)` over HTTP returns it (polled every 50 ms): the
frame -> queryable latency. Both end with the storage figures: compressed bytes per meter sample
and per archived frame after OPTIMIZE … FINAL. Topics are prefixed `bench-ch-<id>-`; the group
and topics are removed at the end. Targets 127.0.0.1 only. `--exact`: the sink routes every
frame through the exact path (no fast path), for A/B comparisons in the same period.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from csms.envelope import FrameEnvelope
from csms.infra.kafka import ensure_topics, producer_config
from csms.settings import Settings, Topics
from loadtests.corpus import Station, interleaved, produce, produce_records
from loadtests.processes import ServiceProcess
from loadtests.processors_bench import GATEWAY_RATE, quantile_ms

T0 = 1_740_816_000_000
MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh", ""),
    ("Power.Active.Import", "W", ""),
    ("Current.Import", "A", "L1"),
    ("Current.Import", "A", "L2"),
    ("Current.Import", "A", "L3"),
    ("Voltage", "V", "L1-N"),
    ("Voltage", "V", "L2-N"),
    ("Voltage", "V", "L3-N"),
    ("SoC", "Percent", ""),
    ("Temperature", "Celsius", ""),
)


def synthetic_frames(frames: int, samples: int, stations: int) -> list[bytes]:
    """`frames` encoded envelopes of 1.6 MeterValues CALLs with `samples` values each: the
    meter-heavy load (benchmarks.sink_bench in-process, `backlog --samples-per-frame` here)."""
    out = []
    for i in range(frames):
        station = f"CP-{i % stations:06d}"
        ts = T0 + (i // stations) * 60_000
        sampled = [
            {"value": f"{i * 0.5 + k:.1f}", "measurand": m, "unit": u, "phase": p}
            for k, (m, u, p) in ((k, MEASURANDS[k % len(MEASURANDS)]) for k in range(samples))
        ]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts / 1000)) + "Z"
        payload = {
            "connectorId": 1,
            "transactionId": i % stations,
            "meterValue": [{"timestamp": stamp, "sampledValue": sampled}],
        }
        frame = orjson.dumps([2, f"m{i}", "MeterValues", payload]).decode()
        env = FrameEnvelope(
            id=f"{ts:012x}{i:016x}", ts=ts, station=station, gw="gw-0", conn="c", proto="ocpp1.6",
            dir="in", kind="call", uid=f"m{i}", action="MeterValues", frame=frame,
        )  # fmt: skip
        out.append(env.encode())
    return out


RUN_SINK = "from csms.settings import Settings; from services.analytics.main import run; "
RUN_SINK += "run(Settings.from_env(), fast_path={fast})"
SAMPLE_EVERY = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frames(count: int, stations: int) -> list[tuple[bytes, bytes]]:
    run = uuid.uuid4().hex[:6]
    return [
        (station.id.encode(), raw)
        for station, raw in interleaved([Station(i, run) for i in range(stations)], count)
    ]


class Sink:
    """`csms analytics` in a process of its own."""

    def __init__(self, settings: Settings, folder: Path, *, fast_path: bool = True) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CSMS_TOPIC_PREFIX": settings.topics.prefix,
            "CLICKHOUSE_URL": f"chdb://{folder / 'ch'}",
            "CLICKHOUSE_HTTP_PORT": str(self.port),
            "ANALYTICS_GROUP_ID": settings.analytics_group_id,
            "CSMS_LOG_LEVEL": "WARNING",
        }
        url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-c", RUN_SINK.format(fast=fast_path)]
        self.process = ServiceProcess(argv, env, folder / "analytics.log", f"{url}/ping").start()
        try:
            self.process.wait_healthy(120)
        except RuntimeError as exc:
            self.process.stop(60)
            raise SystemExit(f"the sink did not start: {exc}") from None
        self.http = httpx.Client(base_url=url, timeout=30)

    def query(self, sql: str) -> list[dict[str, Any]]:
        reply = self.http.post("/", content=sql + " FORMAT JSONEachRow")
        reply.raise_for_status()
        return [orjson.loads(line) for line in reply.text.splitlines()]

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count() AS n FROM {table}")[0]["n"])

    def stop(self) -> None:
        self.process.stop(60)
        self.http.close()


def storage(sink: Sink) -> str:
    for table in ("meter_values", "ocpp_frames"):
        sink.http.post("/", content=f"OPTIMIZE TABLE {table} FINAL")
    rows = sink.query(
        "SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS bytes, "
        "sum(data_uncompressed_bytes) AS raw FROM system.parts "
        "WHERE active AND table IN ('meter_values', 'ocpp_frames') GROUP BY table ORDER BY table"
    )
    return "; ".join(
        f"{r['table']}: {int(r['rows']):,} rows, {int(r['bytes']) / max(1, int(r['rows'])):.1f} "
        f"B/row compressed ({int(r['raw']) / max(1, int(r['rows'])):.0f} B/row uncompressed)"
        for r in rows
    )


def produce_values(settings: Settings, values: list[bytes]) -> float:
    """Publish encoded envelopes (keyed by station, as the gateway does); seconds taken."""
    records = [(orjson.loads(value)["station"].encode(), value) for value in values]
    return produce_records(settings, records, client_id="ch-bench")


def backlog(
    settings: Settings,
    folder: Path,
    count: int,
    stations: int,
    *,
    samples_per_frame: int = 0,
    fast_path: bool = True,
) -> dict[str, Any]:
    """`samples_per_frame` 0: the realistic corpus; N: synthetic 1.6 MeterValues of N samples."""
    if samples_per_frame:
        produce_s = produce_values(settings, synthetic_frames(count, samples_per_frame, stations))
    else:
        _, produce_s = produce(settings, count, stations, uuid.uuid4().hex[:6])
    print(f"produced {count:,} frames in {produce_s:.1f} s")
    sink = Sink(settings, folder, fast_path=fast_path)
    try:
        tables = ("ocpp_frames", "meter_values", "transactions", "transaction_events")
        first: float | None = None
        last_total, total = -1, 0
        while True:
            total = sum(sink.count(t) for t in tables)
            now = time.monotonic()
            if total and first is None:
                first = now
            if sink.count("ocpp_frames") >= count and total == last_total:
                break
            last_total = total
            time.sleep(1.0)
        assert first is not None
        seconds = max(0.001, now - first - 1.0)  # the last poll only confirmed nothing new
        meter = sink.count("meter_values")
        print(
            f"backlog ({'fast' if fast_path else 'exact'} path): {total:,} rows "
            f"({meter:,} meter samples, {count:,} frames) in "
            f"≈ {seconds:.1f} s = {total / seconds:,.0f} rows/s, {meter / seconds:,.0f} meter "
            f"rows/s, {count / seconds:,.0f} frames/s"
        )
        print("storage:", storage(sink))
        return {
            "frames": count,
            "samples_per_frame": samples_per_frame or "realistic",
            "rows_per_s": round(total / seconds),
            "meter_rows_per_s": round(meter / seconds),
            "frames_per_s": round(count / seconds),
        }
    finally:
        sink.stop()


class Visibility:
    """Polls the sink for sampled event ids; frame -> queryable latencies."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.pending: dict[str, float] = {}
        self.latencies: list[float] = []
        self.lock = threading.Lock()
        self.done = threading.Event()

    def acked(self, event_id: str) -> None:
        with self.lock:
            self.pending[event_id] = time.monotonic()

    def run(self) -> None:
        while not (self.done.is_set() and not self.pending):
            with self.lock:
                ids = list(self.pending)[:2000]
            if ids:
                quoted = ",".join(f"'{i}'" for i in ids)
                seen = self.sink.query(
                    f"SELECT event_id FROM ocpp_frames WHERE event_id IN ({quoted})"
                )
                now = time.monotonic()
                with self.lock:
                    for row in seen:
                        acked = self.pending.pop(row["event_id"], None)
                        if acked is not None:
                            self.latencies.append(now - acked)
            time.sleep(0.05)


def paced(
    settings: Settings,
    folder: Path,
    rate: int,
    seconds: int,
    stations: int,
    *,
    fast_path: bool = True,
) -> None:
    records = frames(rate * seconds, stations)
    sink = Sink(settings, folder, fast_path=fast_path)
    watch = Visibility(sink)
    poller = threading.Thread(target=watch.run, daemon=True)
    producer = Producer(producer_config(settings, client_id="ch-bench"))
    try:
        poller.start()
        started = time.monotonic()
        for i, (key, value) in enumerate(records):
            due = started + i / rate
            while (now := time.monotonic()) < due:
                time.sleep(min(due - now, 0.005))
            callback = None
            if i % SAMPLE_EVERY == 0:
                event_id = orjson.loads(value)["id"]
                callback = _on_ack(watch, event_id)
            producer.produce(settings.topics.frames, value, key, on_delivery=callback)
            producer.poll(0)
        producer.flush(60)
        sent = time.monotonic() - started
        watch.done.set()
        poller.join(300)
        got = sorted(watch.latencies)

        print(
            f"paced: {len(records):,} frames at {rate}/s in {sent:.1f} s; frame -> queryable "
            f"({len(got):,} sampled frames): p50 {quantile_ms(got, 0.5):.0f} ms, "
            f"p99 {quantile_ms(got, 0.99):.0f} ms, "
            f"max {got[-1] * 1000:.0f} ms; never seen: {len(watch.pending)}"
        )
        print("storage:", storage(sink))
    finally:
        sink.stop()


def _on_ack(watch: Visibility, event_id: str) -> Any:
    def on_delivery(err: Any, _msg: Any) -> None:
        if err is None:
            watch.acked(event_id)

    return on_delivery


def cleanup(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(settings.topics.prefix)]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result()
    for future in admin.delete_consumer_groups(
        [settings.analytics_group_id], request_timeout=30
    ).values():
        try:
            future.result()
        except Exception as exc:  # a group that never committed is no error here
            print(f"(group not deleted: {exc})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["backlog", "paced"])
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=GATEWAY_RATE)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--exact", action="store_true", help="every frame on the exact path")
    parser.add_argument(
        "--samples-per-frame", type=int, default=0, help="backlog: synthetic meter-heavy frames"
    )
    parser.add_argument("--json", type=Path, help="backlog: also write the figures here")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        topics=Topics(prefix=f"bench-ch-{run}-"), analytics_group_id=f"bench-ch-{run}"
    )
    asyncio.run(ensure_topics(settings))
    with tempfile.TemporaryDirectory(prefix="analytics-bench-") as tmp:
        try:
            if args.mode == "backlog":
                figures = backlog(
                    settings,
                    Path(tmp),
                    args.frames,
                    args.stations,
                    samples_per_frame=args.samples_per_frame,
                    fast_path=not args.exact,
                )
                if args.json:
                    args.json.write_text(orjson.dumps(figures).decode())
            else:
                paced(
                    settings,
                    Path(tmp),
                    args.rate,
                    args.seconds,
                    args.stations,
                    fast_path=not args.exact,
                )
        finally:
            cleanup(settings)


if __name__ == "__main__":
    main()
