"""The checks after the run: every finished session ended and billed right in the API, every
answered CALL on ocpp.frames once, every fleet frame in ClickHouse once, the read models equal
to a replay."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from csms.envelope import decode
from csms.infra.redis_dump import snapshot
from loadtests.faults.report import Report
from loadtests.faults.stack import DEADLINE_S, LocalStack, api_client
from loadtests.fleet import FleetRecord


async def session_problem(api: httpx.AsyncClient, session: Any) -> str:
    """ "" when the API shows the session ended with the charger's energy and a final bill of
    that energy; else what is wrong."""
    base = f"/api/v1/transactions/{session.station}/{session.transaction_id}"
    try:
        tx, bill = await api.get(base), await api.get(f"{base}/bill")
    except httpx.HTTPError as exc:
        return f"API: {exc!r}"
    if tx.status_code != 200:
        return f"transaction {tx.status_code}"
    body = tx.json()
    if body.get("state") != "ended":
        return f"transaction {body.get('state')}"
    if abs(float(body.get("energy_wh") or 0) - session.energy_wh) > 1e-6:
        return f"transaction energy {body.get('energy_wh')} != {session.energy_wh}"
    if bill.status_code != 200 or bill.json().get("state") != "final":
        return f"bill {bill.status_code} {bill.text[:80]}"
    if abs(float(bill.json()["energy_wh"]) - session.energy_wh) > 1e-6:
        return f"bill energy {bill.json()['energy_wh']} != {session.energy_wh}"
    return ""


async def check_sessions(stack: LocalStack, record: FleetRecord, report: Report) -> None:
    report.sessions = len(record.sessions)
    pending = list(record.sessions)
    deadline = time.monotonic() + DEADLINE_S
    problems: dict[str, str] = {}
    room = asyncio.Semaphore(16)  # the API's own pace; thousands at once only time out

    async def problem(api: httpx.AsyncClient, session: Any) -> str:
        async with room:
            return await session_problem(api, session)

    async with api_client(stack) as api:
        while pending and time.monotonic() < deadline:
            found = await asyncio.gather(*(problem(api, s) for s in pending))
            checked = list(zip(pending, found, strict=True))
            problems = {f"{s.station}/{s.transaction_id}": p for s, p in checked if p}
            pending = [s for s, p in checked if p]
            if pending:
                await asyncio.sleep(1.0)
    report.sessions_ok = report.sessions - len(pending)
    report.session_problems = [f"{k}: {v}" for k, v in sorted(problems.items())][:50]


async def read_fleet_frames(stack: LocalStack, record: FleetRecord) -> list[dict[str, Any]]:
    """Every envelope of the fleet's stations on ocpp.frames, up to the end offsets of now."""
    stations = {s for s, _, _ in record.answered}
    topic = f"{stack.prefix}ocpp.frames"
    # No group: the consumer is given every partition and starts at offset 0.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka, auto_offset_reset="earliest")
    await consumer.start()
    try:
        frames: list[dict[str, Any]] = []
        batch = await consumer.getmany(timeout_ms=2000)
        partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        while True:
            for records in batch.values():
                for r in records:
                    env = decode(r.value)
                    if env.station in stations:
                        frames.append(env.to_dict())
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                return frames
            batch = await consumer.getmany(timeout_ms=1000)
    finally:
        await consumer.stop()


def check_calls(record: FleetRecord, frames: list[dict[str, Any]], report: Report) -> None:
    calls = Counter(
        (f["station"], f["uid"]) for f in frames if f["dir"] == "in" and f["kind"] == "call"
    )
    report.answered_calls = len(record.answered)
    report.fleet_frames = len(frames)
    for station, uid, _ in record.answered:
        seen = calls.get((station, uid), 0)
        report.calls_missing += seen == 0
        report.calls_duplicated += seen > 1


async def check_clickhouse(stack: LocalStack, frames: list[dict[str, Any]], report: Report) -> None:
    expected = {f["id"] for f in frames}
    query = (
        "SELECT event_id, count() AS n FROM ocpp_frames FINAL WHERE station LIKE 'FLEET-%' "
        "GROUP BY event_id FORMAT JSONCompactEachRow"
    )

    async def stored() -> dict[str, int]:
        async with httpx.AsyncClient(base_url=stack.clickhouse_url, timeout=30) as ch:
            text = (await ch.post("/", content=query)).text.strip()
        return {row[0]: int(row[1]) for row in map(orjson.loads, text.splitlines())}

    rows: dict[str, int] = {}

    async def caught_up() -> bool:
        nonlocal rows
        rows = await stored()
        return expected <= set(rows)

    with contextlib.suppress(TimeoutError):
        await stack.until(caught_up, "the sink has every fleet frame")
    report.clickhouse_missing = len(expected - set(rows))
    report.clickhouse_duplicated = sum(1 for n in rows.values() if n > 1)


async def check_replay(stack: LocalStack, report: Report, timeout_s: float = DEADLINE_S) -> None:
    """The read models against `csms replay --from-beginning`; a replay that fails or outlasts
    `timeout_s` is reported as a difference, not raised (the rest of the report stands)."""
    redis = aioredis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        live = await snapshot(redis)
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "services.cli", "replay", "--from-beginning"],
                env=stack.env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            report.replay_differences = [f"replay did not finish within {timeout_s:.0f} s"]
            return
        if done.returncode != 0:
            report.replay_differences = [f"replay failed: {done.stderr[-2000:]}"]
            return
        rebuilt = await snapshot(redis)
    finally:
        await redis.aclose()
    keys = sorted(set(live) | set(rebuilt))
    report.replay_differences = [k for k in keys if live.get(k) != rebuilt.get(k)][:50]
    report.replay_samples = {
        k: _difference(live.get(k), rebuilt.get(k)) for k in report.replay_differences[:3]
    }


def _difference(live: Any, rebuilt: Any) -> dict[str, Any]:
    """What differs in one key: for JSON objects the differing fields, else both values."""
    try:
        before, after = orjson.loads(live[1]), orjson.loads(rebuilt[1])
    except (TypeError, IndexError, orjson.JSONDecodeError):
        return {"live": live, "replay": rebuilt}
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return {"live": live, "replay": rebuilt}
    return {
        name: {"live": before.get(name), "replay": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


async def check_everything(
    stack: LocalStack, record: FleetRecord, report: Report, replay_timeout_s: float = DEADLINE_S
) -> None:
    """The checks after a run, in order: sessions and bills, CALLs on Kafka once, frames in
    ClickHouse once, then - with the stack stopped, as a replay refuses to run beside live
    processors - the read models against a replay."""
    report.connects, report.retries = record.connects, record.retries
    await check_sessions(stack, record, report)
    frames = await read_fleet_frames(stack, record)
    check_calls(record, frames, report)
    await check_clickhouse(stack, frames, report)
    await stack.stop()
    await check_replay(stack, report, replay_timeout_s)
