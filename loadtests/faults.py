"""`kill -9` each CSMS service under load from real chargers, watch it come back by itself, and
check afterwards that nothing was lost.

    python -m loadtests.faults --rounds 5 --fleet 40            # the figures of issue 16
    python -m loadtests.faults --rounds 1 --fleet 12 --json out.json

It runs a `csms up` of its own (its own ports, topic prefix, Redis database and state folder, on
the Kafka and Redis that `make test` / `make up` started) and a fleet of resilient chargers
(loadtests.fleet: 1.6, 2.0.1 and 2.1, charging in a loop, retrying what was not answered). Each
round kills the gateway, then the processors, then the analytics sink, then the API, one at a
time, and measures for each:

* back: kill -> its health endpoint answers again (the supervisor restarted it);
* recovered: kill -> it does its job again, end to end - gateway: every station was served after
  the kill; processors: a session finished after the kill is `ended` with its final bill in the
  API; analytics: a frame received after the kill is queryable in ClickHouse; API: it lists
  stations.

Then the fleet finishes the sessions it has going and the checks run:

1. every session a charger finished is `ended` in the API with the energy the charger metered,
   and has a final bill with that energy (the share must be 100 %);
2. every CALL a charger got a CALLRESULT for is on `ocpp.frames` exactly once;
3. ClickHouse has every frame of the fleet exactly once (`ocpp_frames FINAL`);
4. the read models equal what `csms replay --from-beginning` rebuilds from Kafka (csms up is
   stopped first: a replay refuses to run beside live processors).

Traffic goes to loopback only; the run is bounded by --rounds and the deadlines below.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer

from csms.envelope import decode
from csms.infra.redis_dump import snapshot
from loadtests.fleet import FleetCharger, FleetRecord, make_fleet, until_connected

SERVICES = ("gateway", "processors", "analytics", "api")
DEADLINE_S = 180.0  # any single wait: recovery, catch-up, replay
TARIFF = {"id": "fault-flat", "currency": "EUR", "energy_per_kwh": "0.40", "session_fee": "0.50"}


@dataclass
class Recovery:
    service: str
    round: int
    back_s: float
    recovered_s: float


@dataclass
class Report:
    recoveries: list[Recovery] = field(default_factory=list)
    sessions: int = 0
    sessions_ok: int = 0
    session_problems: list[str] = field(default_factory=list)
    answered_calls: int = 0
    calls_missing: int = 0
    calls_duplicated: int = 0
    fleet_frames: int = 0
    clickhouse_missing: int = 0
    clickhouse_duplicated: int = 0
    replay_differences: list[str] = field(default_factory=list)
    replay_samples: dict[str, Any] = field(default_factory=dict)  # the first few, both sides
    sigterm_stop_s: dict[str, float] = field(default_factory=dict)  # under load
    connects: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.sessions > 0
            and self.sessions_ok == self.sessions
            and not (self.calls_missing or self.calls_duplicated)
            and not (self.clickhouse_missing or self.clickhouse_duplicated)
            and not self.replay_differences
        )

    def summary(self) -> dict[str, Any]:
        by_service: dict[str, Any] = {}
        for service in SERVICES:
            runs = [r for r in self.recoveries if r.service == service]
            if runs:
                by_service[service] = {
                    "runs": len(runs),
                    "back_p50_s": round(statistics.median(r.back_s for r in runs), 2),
                    "back_max_s": round(max(r.back_s for r in runs), 2),
                    "recovered_p50_s": round(statistics.median(r.recovered_s for r in runs), 2),
                    "recovered_max_s": round(max(r.recovered_s for r in runs), 2),
                }
        share = 100.0 * self.sessions_ok / self.sessions if self.sessions else 0.0
        return {
            "ok": self.ok,
            "recovery": by_service,
            "sessions": self.sessions,
            "sessions_ended_right_pct": round(share, 2),
            "answered_calls": self.answered_calls,
            "calls_missing_in_kafka": self.calls_missing,
            "calls_duplicated_in_kafka": self.calls_duplicated,
            "fleet_frames": self.fleet_frames,
            "clickhouse_missing": self.clickhouse_missing,
            "clickhouse_duplicated": self.clickhouse_duplicated,
            "replay_differences": len(self.replay_differences),
            "reconnects": self.connects,
            "retried_calls": self.retries,
            "sigterm_stop_s": self.sigterm_stop_s,
        }


class LocalStack:
    """A `csms up` with an environment of its own, killed and inspected from outside."""

    def __init__(self, base: Path, kafka: str, redis_url: str, port_base: int) -> None:
        run = uuid.uuid4().hex[:8]
        self.state = base / f"faults-{run}"
        self.state.mkdir(parents=True, exist_ok=True)
        self.ports = {
            "gateway": port_base,
            "api": port_base + 1,
            "analytics": port_base + 2,
            "processors": port_base + 3,
        }
        self.redis_url = redis_url
        self.kafka = kafka
        self.prefix = f"faults-{run}."
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": kafka,
            "REDIS_URL": redis_url,
            "CSMS_TOPIC_PREFIX": self.prefix,
            "CLICKHOUSE_URL": f"chdb://{self.state / 'clickhouse'}",
            "CLICKHOUSE_HTTP_PORT": str(self.ports["analytics"]),
            "GATEWAY_PORT": str(self.ports["gateway"]),
            "GATEWAY_ID": f"gw-faults-{run}",
            "API_PORT": str(self.ports["api"]),
            "PROCESSORS_APP_ID": f"csms-processors-faults-{run}",
            "PROCESSORS_WEB_PORT": str(self.ports["processors"]),
            "ANALYTICS_GROUP_ID": f"csms-analytics-faults-{run}",
            "ANALYTICS_BATCH_SECONDS": "0.2",
            "CSMS_LOCAL_DIR": str(self.state),
            "CSMS_API_TOKEN": f"faults-admin-{uuid.uuid4().hex}",
            "GATEWAY_RATE_LIMIT_PER_S": "0",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.state / "csms.log"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.ports['gateway']}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def clickhouse_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['analytics']}"

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env['CSMS_API_TOKEN']}"}

    def health_url(self, service: str) -> str:
        path = {"gateway": "/health", "api": "/health", "analytics": "/ping"}.get(
            service, "/metrics"
        )
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once: it only forks
                [sys.executable, "-m", "services.cli", "up"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for service in SERVICES:
            await self.until(lambda s=service: self.healthy(s), f"{service} healthy")

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def child_pid(self, service: str) -> int | None:
        path = self.state / "run" / "csms-children.json"
        try:
            children = json.loads(path.read_text(encoding="utf-8"))["children"]
        except (FileNotFoundError, ValueError, KeyError):
            return None
        pid = children.get(service, {}).get("pid")
        return int(pid) if pid else None

    async def healthy(self, service: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(self.health_url(service))).status_code == 200
        except httpx.HTTPError:
            return False

    async def until(self, probe: Any, what: str, within_s: float = DEADLINE_S) -> float:
        """Seconds until `await probe()` is true; raises with the log tail after `within_s`."""
        start = time.monotonic()
        while time.monotonic() - start < within_s:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"csms up exited:\n{self.log_tail()}")
            if await probe():
                return time.monotonic() - start
            await asyncio.sleep(0.1)
        raise TimeoutError(f"never: {what}\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


# --- the run ----------------------------------------------------------------------------------


async def run_faults(
    stack: LocalStack, *, rounds: int, fleet_size: int, settle_s: float = 3.0
) -> Report:
    """Start the stack and the fleet, kill each service `rounds` times, then check."""
    report = Report()
    record = FleetRecord()
    await stack.start()
    await _assign_tariff(stack)
    fleet = make_fleet(stack.gateway_url, fleet_size, record, interval_s=0.5, meter_values=3)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in fleet]
    try:
        await until_connected(fleet, DEADLINE_S)
        await asyncio.sleep(settle_s)
        for n in range(1, rounds + 1):
            for service in SERVICES:
                report.recoveries.append(await _kill_and_watch(stack, fleet, record, service, n))
                await asyncio.sleep(settle_s)
        for service in SERVICES:
            report.sigterm_stop_s[service] = await _sigterm(stack, service)
            await asyncio.sleep(settle_s)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE_S)
    report.connects, report.retries = record.connects, record.retries
    await _check_sessions(stack, record, report)
    frames = await _read_fleet_frames(stack, record)
    _check_calls(record, frames, report)
    await _check_clickhouse(stack, frames, report)
    await stack.stop()
    await _check_replay(stack, report)
    return report


async def _assign_tariff(stack: LocalStack) -> None:
    async with _api(stack) as api:
        created = await api.post("/api/v1/tariffs", json=TARIFF)
        assert created.status_code in (201, 409), created.text
        assign = {"scope": "default", "tariff_id": TARIFF["id"], "valid_from_ms": 0}
        assigned = await api.put("/api/v1/tariff-assignments", json=assign)
        assert assigned.status_code == 200, assigned.text


async def _kill_and_watch(
    stack: LocalStack, fleet: list[FleetCharger], record: FleetRecord, service: str, n: int
) -> Recovery:
    pid = stack.child_pid(service)
    assert pid is not None, f"no pid for {service}"
    killed_at, killed_wall_ms = time.monotonic(), int(time.time() * 1000)
    os.kill(pid, signal.SIGKILL)

    async def back() -> bool:
        new = stack.child_pid(service)
        return new is not None and new != pid and await stack.healthy(service)

    back_s = await stack.until(back, f"{service} restarted")
    probes = {
        "gateway": lambda: _all_served_since(fleet, record, killed_at),
        "processors": lambda: _a_session_billed_since(stack, record, killed_at),
        "analytics": lambda: _a_frame_queryable_since(stack, killed_wall_ms),
        "api": lambda: _api_answers(stack),
    }
    await stack.until(probes[service], f"{service} recovered")
    return Recovery(service, n, back_s, time.monotonic() - killed_at)


async def _sigterm(stack: LocalStack, service: str) -> float:
    """Seconds from SIGTERM to the service's exit, under load (the supervisor restarts it;
    this waits until it is healthy again)."""
    pid = stack.child_pid(service)
    assert pid is not None, f"no pid for {service}"
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    await stack.until(lambda: _exited(pid), f"{service} stopped after SIGTERM")
    stopped = time.monotonic() - sent

    async def back() -> bool:
        new = stack.child_pid(service)
        return new is not None and new != pid and await stack.healthy(service)

    await stack.until(back, f"{service} restarted after SIGTERM")
    return round(stopped, 2)


async def _exited(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    return await asyncio.to_thread(_gone, pid)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return True
    return state in ("Z", "X")


async def _all_served_since(fleet: list[FleetCharger], record: FleetRecord, t: float) -> bool:
    return all(record.last_ok.get(c.station, 0.0) > t for c in fleet)


async def _a_session_billed_since(stack: LocalStack, record: FleetRecord, t: float) -> bool:
    later = [s for s in record.sessions if s.finished_s > t]
    if not later:
        return False
    async with _api(stack) as api:
        return await _session_problem(api, later[0]) == ""


async def _a_frame_queryable_since(stack: LocalStack, wall_ms: int) -> bool:
    query = (
        "SELECT count() FROM ocpp_frames WHERE station LIKE 'FLEET-%' "
        f"AND ts >= fromUnixTimestamp64Milli(toInt64({wall_ms}))"
    )
    try:
        async with httpx.AsyncClient(base_url=stack.clickhouse_url, timeout=5) as ch:
            text = (await ch.get("/", params={"query": query})).text.strip()
    except httpx.HTTPError:
        return False
    return text.isdigit() and int(text) > 0


async def _api_answers(stack: LocalStack) -> bool:
    try:
        async with _api(stack) as api:
            return (await api.get("/api/v1/stations", params={"limit": 1})).status_code == 200
    except httpx.HTTPError:
        return False


# --- the checks -------------------------------------------------------------------------------


async def _session_problem(api: httpx.AsyncClient, session: Any) -> str:
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


def _api(stack: LocalStack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers, timeout=10)


async def _check_sessions(stack: LocalStack, record: FleetRecord, report: Report) -> None:
    report.sessions = len(record.sessions)
    pending = list(record.sessions)
    deadline = time.monotonic() + DEADLINE_S
    problems: dict[str, str] = {}
    room = asyncio.Semaphore(16)  # the API's own pace; thousands at once only time out

    async def problem(api: httpx.AsyncClient, session: Any) -> str:
        async with room:
            return await _session_problem(api, session)

    async with _api(stack) as api:
        while pending and time.monotonic() < deadline:
            found = await asyncio.gather(*(problem(api, s) for s in pending))
            checked = list(zip(pending, found, strict=True))
            problems = {f"{s.station}/{s.transaction_id}": p for s, p in checked if p}
            pending = [s for s, p in checked if p]
            if pending:
                await asyncio.sleep(1.0)
    report.sessions_ok = report.sessions - len(pending)
    report.session_problems = [f"{k}: {v}" for k, v in sorted(problems.items())][:50]


async def _read_fleet_frames(stack: LocalStack, record: FleetRecord) -> list[dict[str, Any]]:
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


def _check_calls(record: FleetRecord, frames: list[dict[str, Any]], report: Report) -> None:
    calls = Counter(
        (f["station"], f["uid"]) for f in frames if f["dir"] == "in" and f["kind"] == "call"
    )
    report.answered_calls = len(record.answered)
    report.fleet_frames = len(frames)
    for station, uid, _ in record.answered:
        seen = calls.get((station, uid), 0)
        report.calls_missing += seen == 0
        report.calls_duplicated += seen > 1


async def _check_clickhouse(
    stack: LocalStack, frames: list[dict[str, Any]], report: Report
) -> None:
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


async def _check_replay(stack: LocalStack, report: Report) -> None:
    redis = aioredis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        live = await snapshot(redis)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.cli", "replay", "--from-beginning"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        if done.returncode != 0:
            report.replay_differences = [f"replay failed: {done.stderr[-2000:]}"]
            return
        rebuilt = await snapshot(redis)
    finally:
        await redis.aclose()
    keys = sorted(set(live) | set(rebuilt))
    report.replay_differences = [k for k in keys if live.get(k) != rebuilt.get(k)][:50]
    report.replay_samples = {
        k: {"live": live.get(k), "replay": rebuilt.get(k)} for k in report.replay_differences[:3]
    }


# --- command line -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fleet", type=int, default=40, help="chargers (1.6, 2.0.1, 2.1)")
    parser.add_argument("--kafka", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--port-base", type=int, default=29400)
    parser.add_argument("--state", type=Path, default=Path(".local/faults"))
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args()

    async def go() -> Report:
        redis = aioredis.Redis.from_url(args.redis_url)
        await redis.flushdb()
        await redis.aclose()
        stack = LocalStack(args.state.resolve(), args.kafka, args.redis_url, args.port_base)
        try:
            return await run_faults(stack, rounds=args.rounds, fleet_size=args.fleet)
        finally:
            await stack.stop()

    report = asyncio.run(go())
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    if report.session_problems:
        print("sessions not right:", *report.session_problems, sep="\n  ")
    if report.replay_differences:
        print("read-model keys that differ from the replay:", *report.replay_differences)
    if args.json:
        full = {
            "summary": summary,
            "recoveries": [asdict(r) for r in report.recoveries],
            "session_problems": report.session_problems,
            "replay_differences": report.replay_differences,
            "replay_samples": report.replay_samples,
        }
        args.json.write_text(json.dumps(full, indent=2), encoding="utf-8")
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
