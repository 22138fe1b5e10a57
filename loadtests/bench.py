"""`make bench`: the standard scenarios against real gateways, the API, Kafka and Redis.

Every gateway it starts is its own `csms gateway` process (own port and GATEWAY_ID, a topic prefix
of its own, Redis DB 8), so a running `make up` is not disturbed; everything it starts is stopped
again, on failure and Ctrl-C too. Scenarios:

* burst: one connection sequential / pipelined and 100 connections (`loadtests.burst`), then what
  the frames cost in Kafka (log bytes per frame, batch zstd vs per-event zstd with a dictionary);
* steady: 10,000 chargers (`loadtests.swarm`) over the gateway processes; once all are booted,
  a window of steady traffic -> CALL->CALLRESULT p50/p95/p99;
* capacity: as many chargers as the targets ask for (50,000) over 3 gateway processes and 3 swarm
  processes -> connections held and gateway RSS per charger (without, then with compression);
* storm: the capacity swarm stays, the gateways are killed (SIGKILL) and restarted -> seconds
  until every charger is booted again;
* throughput: chargers sending as fast as OCPP allows into one gateway -> frames into Kafka per
  second of gateway CPU;
* commands: an operator API process and 1,000 swarm chargers that answer CSMS CALLs; operator
  commands at fixed rates (`loadtests.commands`) -> round trip p50/p95/p99 and the rate answered.

    python -m loadtests.bench --scale small|medium|full [--scenarios capacity,storm]
        [--write-docs docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import psutil
import zstandard
from aiokafka import AIOKafkaConsumer

from csms.settings import LOCAL_STATE_DIR
from loadtests.burst import BurstResult, run_burst

BURST_PORT = 19300
SWARM_BASE_PORT = 19310
# The bench's gateways keep their state in their own Redis database.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
# Capacity first, on freshly started gateways (their idle RSS is the baseline).
ALL_SCENARIOS = ("burst", "capacity", "storm", "steady", "throughput", "compression", "commands")
API_PORT = 19380


@dataclass(frozen=True)
class Scale:
    burst_frames: int
    steady_chargers: int
    steady_ramp_s: float
    steady_hold_s: float
    capacity_chargers: int
    capacity_ramp_s: float
    gateways: int
    swarm_processes: int
    storm_budget_s: float
    boot_wait_s: float  # longest wait for a swarm to be booted (ramp included)
    throughput_chargers: int
    throughput_s: float
    command_chargers: int  # connected chargers that answer operator commands
    command_rates: tuple[float, ...]  # commands per second through the API, one run each
    command_s: float


SCALES = {
    "small": Scale(
        burst_frames=2000,
        steady_chargers=300,
        steady_ramp_s=3,
        steady_hold_s=8,
        capacity_chargers=300,
        capacity_ramp_s=3,
        gateways=3,
        swarm_processes=1,
        storm_budget_s=60,
        boot_wait_s=60,
        throughput_chargers=100,
        throughput_s=8,
        command_chargers=100,
        command_rates=(20, 100),
        command_s=5,
    ),
    "medium": Scale(
        burst_frames=5000,
        steady_chargers=2000,
        steady_ramp_s=10,
        steady_hold_s=20,
        capacity_chargers=3000,
        capacity_ramp_s=10,
        gateways=3,
        swarm_processes=3,
        storm_budget_s=120,
        boot_wait_s=150,
        throughput_chargers=500,
        throughput_s=15,
        command_chargers=500,
        command_rates=(50, 500),
        command_s=10,
    ),
    "full": Scale(
        burst_frames=20000,
        steady_chargers=10_000,
        steady_ramp_s=60,
        steady_hold_s=60,
        capacity_chargers=50_000,
        capacity_ramp_s=120,
        gateways=3,
        swarm_processes=3,
        storm_budget_s=150,
        boot_wait_s=240,
        throughput_chargers=2000,
        throughput_s=30,
        command_chargers=1000,
        command_rates=(50, 200, 1000),
        command_s=20,
    ),
}


# --- processes the bench owns ------------------------------------------------------------------


class Processes:
    """Every child the bench starts, so that all of them are stopped whatever happens."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as fh:
            # Own session: a swarm's forked workers are stopped with their parent's group.
            proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=fh, start_new_session=True)
        self.children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # its group: the swarm's workers too
        proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.children):
            self.stop(proc, timeout=15)
        self.children.clear()


@dataclass
class Gateway:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def tree(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        return []

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.tree())

    def established(self) -> int:
        """Chargers connected, counted on the gateway's side (the swarm's own counters lag when
        its event loops are starved of CPU)."""
        count = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                count += sum(
                    1
                    for c in proc.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
                )
        return count

    def cpu_s(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.tree())


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.scale = SCALES[args.scale]
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}."
        self.procs = Processes()
        self.tmp = Path(tempfile.mkdtemp(prefix="csms-bench-"))
        self.log = self.tmp / "bench.log"
        self.running: list[Gateway] = []
        self.compression = "false"

    def start_gateway(self, port: int, gw_id: str, **extra: str) -> Gateway:
        env = {
            **os.environ,
            "CSMS_TOPIC_PREFIX": self.prefix,
            "GATEWAY_PORT": str(port),
            "GATEWAY_ID": gw_id,
            "REDIS_URL": REDIS_URL,
            "CSMS_LOG_LEVEL": "WARNING",
            "GATEWAY_DRAIN_WINDOW_S": "2",
            **extra,
        }
        proc = self.procs.start([sys.executable, "-m", "services.cli", "gateway"], env, self.log)
        return Gateway(port, proc)

    def wait_healthy(self, gateways: list[Gateway], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for gw in gateways:
            while True:
                if gw.proc.poll() is not None:
                    raise RuntimeError(f"gateway :{gw.port} exited, see {self.log}")
                with contextlib.suppress(httpx.HTTPError):
                    url = f"http://127.0.0.1:{gw.port}/health"
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gateway :{gw.port} not healthy, see {self.log}")
                time.sleep(0.2)

    def gateways(self, n: int, *, compression: bool = False) -> list[Gateway]:
        """The first `n` of the scale's gateway processes, started once and shared by the
        scenarios (restarted only to switch compression, or when one is not running)."""
        wanted = "true" if compression else "false"
        alive = all(g.proc.poll() is None for g in self.running)
        if not self.running or self.compression != wanted or not alive:
            for gw in self.running:
                self.procs.stop(gw.proc)
            self.running = [
                self.start_gateway(SWARM_BASE_PORT + k, f"gw-bench-{k}", GATEWAY_COMPRESSION=wanted)
                for k in range(self.scale.gateways)
            ]
            self.compression = wanted
            self.wait_healthy(self.running)
        return self.running[:n]

    def start_api(self, port: int, token: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "CSMS_TOPIC_PREFIX": self.prefix,
            "API_PORT": str(port),
            "REDIS_URL": REDIS_URL,
            "CSMS_API_TOKEN": token,
            "CSMS_LOG_LEVEL": "WARNING",
        }
        proc = self.procs.start([sys.executable, "-m", "services.cli", "api"], env, self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"api :{port} exited, see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return proc
            time.sleep(0.2)
        raise RuntimeError(f"api :{port} not healthy, see {self.log}")

    def start_swarm(
        self, name: str, gateways: list[Gateway], *opts: str, prefix: str = ""
    ) -> tuple[Any, Path, Path]:
        out = self.tmp / f"{name}.json"
        status = self.tmp / f"{name}-status"
        status.mkdir()
        argv = [
            sys.executable,
            "-m",
            "loadtests.swarm",
            "--url",
            ",".join(g.url for g in gateways),
            "--station-prefix",
            prefix or f"{name[:3].upper()}{uuid.uuid4().hex[:4]}-",
            "--status-dir",
            str(status),
            "--output",
            str(out),
            *opts,
        ]
        return self.procs.start(argv, dict(os.environ), self.log), out, status

    def finish_swarm(self, proc: subprocess.Popen[bytes], out: Path, timeout: float) -> Any:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the parent forwards it to its workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
        self.procs.stop(proc, timeout=5)
        try:
            return json.loads(out.read_text())
        except (OSError, ValueError):
            return {"errors": {"swarm report missing (swarm killed)": 1}}


def progress(status_dir: Path) -> dict[str, float]:
    """Live counters summed over the swarm's workers (each writes its file every second)."""
    total: dict[str, float] = {}
    for path in status_dir.glob("worker-*.json"):
        with contextlib.suppress(ValueError, OSError):
            for key, value in json.loads(path.read_text()).items():
                total[key] = (
                    max(total.get(key, 0), value)
                    if key.endswith("ts")
                    else (total.get(key, 0) + value)
                )
    return total


def wait_until(
    value: Callable[[], float], target: float, timeout: float, stall: float = 60
) -> tuple[float, float]:
    """Poll `value` until it reaches target, stops growing for `stall` s, or `timeout`."""
    t0 = time.monotonic()
    best, best_at = -1.0, t0
    while True:
        now = time.monotonic()
        current = value()
        if current > best:
            best, best_at = current, now
        if current >= target or now - t0 > timeout or now - best_at > stall:
            return now - t0, current
        time.sleep(1.0)


def wait_for(status_dir: Path, key: str, target: int, timeout: float) -> tuple[float, float]:
    """Wait until progress[key] reaches target, stops growing for 90 s (chargers told Pending
    wait up to 45 s and more), or `timeout`. Returns (seconds waited, value reached)."""
    t0 = time.monotonic()
    best, best_at = -1.0, t0
    while True:
        now = time.monotonic()
        value = progress(status_dir).get(key, 0)
        if value > best:
            best, best_at = value, now
        if value >= target or now - t0 > timeout or now - best_at > 90:
            return now - t0, value
        time.sleep(0.25)


# --- scenarios ---------------------------------------------------------------------------------


def _swarm_summary(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("connections", "boots", "frames", "errors", "duration_s", "frames_per_s", "latency_ms")
    return {k: report[k] for k in keep if k in report}


def steady(b: Bench) -> dict[str, Any]:
    """Ramp up, wait until every charger is booted, then measure `steady_hold_s` of traffic."""
    s = b.scale
    gws = b.gateways(s.gateways)
    boot_budget = s.boot_wait_s
    proc, out, status = b.start_swarm(
        "steady", gws,
        "--chargers", str(s.steady_chargers),
        "--processes", str(max(1, -(-s.steady_chargers // 15_000))),
        "--ramp", str(s.steady_ramp_s),
        "--warmup", "1e9",  # latencies are recorded from SIGUSR1 on
        "--duration", str(boot_budget + s.steady_hold_s + 30),
        "--heartbeat-interval", "60", "--meter-interval", "30",
        "--session", "600", "--idle", "300",
    )  # fmt: skip
    waited, booted = wait_for(status, "booted_now", s.steady_chargers, boot_budget)
    proc.send_signal(signal.SIGUSR1)
    cpu0, frames0, t0 = sum(g.cpu_s() for g in gws), _frames_now(status), time.monotonic()
    time.sleep(s.steady_hold_s)
    cpu, wall = sum(g.cpu_s() for g in gws) - cpu0, time.monotonic() - t0
    frames = _frames_now(status) - frames0
    booted_end = progress(status).get("booted_now", 0)
    proc.send_signal(signal.SIGTERM)
    summary = _swarm_summary(b.finish_swarm(proc, out, 120))
    summary.update(
        gateways=len(gws),
        booted_at_start=int(booted),
        booted_at_end=int(booted_end),
        seconds_to_boot=round(waited, 1),
        measured_s=round(wall, 1),
        steady_frames_per_s=round(frames / wall, 1),
        gateway_cpu_s=round(cpu, 1),
    )
    return summary


def capacity_and_storm(b: Bench, *, compression: bool, storm: bool) -> dict[str, Any]:
    s = b.scale
    gws = b.gateways(s.gateways, compression=compression)
    result: dict[str, Any] = {"compression": compression, "gateways": len(gws)}
    baseline = sum(g.rss() for g in gws)
    hold = s.boot_wait_s + 30 + (s.storm_budget_s + 60 if storm else 0)
    opts = [
        "--chargers", str(s.capacity_chargers),
        "--processes", str(s.swarm_processes),
        "--ramp", str(s.capacity_ramp_s),
        "--duration", str(hold),
        "--heartbeat-interval", "300", "--session", "0", "--idle", "3600",
        "--backoff-min", "1", "--backoff-max", "10", "--call-timeout", "60",
    ]  # fmt: skip
    if compression:
        opts.append("--compression")
    name = "capz" if compression else "capacity"
    proc, out, status = b.start_swarm(name, gws, *opts)

    def held() -> float:
        return sum(g.established() for g in gws)

    waited, _ = wait_until(held, s.capacity_chargers, s.boot_wait_s)
    time.sleep(3)  # let the last handshakes and boots settle before reading memory
    rss = sum(g.rss() for g in gws)
    conns = int(held())
    booted = progress(status).get("booted_now", 0)  # lags when the swarm is starved of CPU
    result.update(
        target=s.capacity_chargers,
        connected=conns,
        booted=int(booted),
        seconds_to_boot_all=round(waited, 1),
        rss_mb=round(rss / 2**20, 1),
        baseline_rss_mb=round(baseline / 2**20, 1),
        rss_per_charger_kb=round(rss / max(conns, 1) / 1024, 1),
        rss_above_idle_per_charger_kb=round((rss - baseline) / max(conns, 1) / 1024, 1),
        per_gateway_rss_mb=[round(g.rss() / 2**20, 1) for g in gws],
    )
    if storm:
        result["storm"] = _storm(b, gws, conns, compression, held)
    proc.send_signal(signal.SIGTERM)
    report = b.finish_swarm(proc, out, 120)
    result["swarm"] = _swarm_summary(report)
    if storm:
        st = result["storm"]
        last = report.get("boots", {}).get("last_accepted_ts", 0)
        after = last - st.pop("kill_ts")
        # Negative: no charger was booted again after the kill within the run.
        st["last_boot_accepted_after_s"] = round(after, 1) if last and after > 0 else None
        st["boots_accepted_total"] = report.get("boots", {}).get("accepted")
    return result


def _storm(
    b: Bench, gws: list[Gateway], held_before: int, compression: bool, held: Callable[[], float]
) -> dict[str, Any]:
    """Kill every gateway (a crash, not a drain), restart them, time until all reconnected."""
    kill_ts, t_kill = time.time(), time.monotonic()
    for gw in gws:
        gw.proc.kill()
        gw.proc.wait()
    flag = "true" if compression else "false"
    for k, gw in enumerate(gws):
        gw.proc = b.start_gateway(gw.port, f"gw-bench-{k}", GATEWAY_COMPRESSION=flag).proc
    b.wait_healthy(gws)
    t_up = time.monotonic() - t_kill
    _waited, back = wait_until(held, held_before, b.scale.storm_budget_s)
    total = time.monotonic() - t_kill
    return {
        "chargers": held_before,
        "reconnected": int(back),
        "gateways_up_after_s": round(t_up, 1),
        "all_reconnected_after_s": round(total, 1) if back >= held_before else None,
        "kill_ts": kill_ts,
    }


def throughput(b: Bench) -> dict[str, Any]:
    s = b.scale
    gws = b.gateways(1)
    ramp = max(3.0, s.throughput_chargers / 500)
    proc, out, status = b.start_swarm(
        "throughput", gws,
        "--chargers", str(s.throughput_chargers),
        "--processes", "2" if s.throughput_chargers >= 500 else "1",
        "--ramp", str(ramp),
        "--warmup", "1e9",  # latencies are recorded from SIGUSR1 on
        "--duration", str(ramp + 90 + s.throughput_s),  # stopped by SIGTERM after the window
        "--heartbeat-interval", "10", "--meter-interval", "0.1",
        "--session", "100000", "--idle", "0",
    )  # fmt: skip
    wait_for(status, "booted_now", s.throughput_chargers, ramp + 60)
    time.sleep(2)
    proc.send_signal(signal.SIGUSR1)
    cpu0, t0 = gws[0].cpu_s(), time.monotonic()
    sent0 = _frames_now(status)
    time.sleep(s.throughput_s - 1)
    cpu, wall = gws[0].cpu_s() - cpu0, time.monotonic() - t0
    frames = _frames_now(status) - sent0
    proc.send_signal(signal.SIGTERM)
    report = b.finish_swarm(proc, out, 60)
    return {
        "chargers": s.throughput_chargers,
        "window_s": round(wall, 1),
        "frames_into_kafka": frames,
        "frames_per_s": round(frames / wall),
        "gateway_cpu_s": round(cpu, 2),
        "gateway_cores_used": round(cpu / wall, 2),
        "frames_per_gateway_core_s": round(frames / max(cpu, 1e-9)),
        "swarm": _swarm_summary(report),
    }


def commands(b: Bench) -> dict[str, Any]:
    """Operator commands through the API to connected chargers: round trip API → Redis →
    gateway → charger → back, at a fixed rate (loadtests.commands)."""
    s = b.scale
    gws = b.gateways(1)
    token = secrets.token_urlsafe(24)
    b.start_api(API_PORT, token)
    prefix = f"CMD{uuid.uuid4().hex[:4]}-"
    ramp = max(3.0, s.command_chargers / 200)
    proc, out, status = b.start_swarm(
        "commands", gws,
        "--chargers", str(s.command_chargers), "--processes", "1",
        "--ramp", str(ramp), "--duration", str(ramp + 120 + s.command_s),
        "--heartbeat-interval", "300", "--session", "0", "--idle", "3600",
        prefix=prefix,
    )  # fmt: skip
    wait_for(status, "booted_now", s.command_chargers, ramp + 60)
    runs = []
    for rate in s.command_rates:
        report_path = b.tmp / f"commands-{rate:g}.json"
        argv = [
            sys.executable, "-m", "loadtests.commands",
            "--api", f"http://127.0.0.1:{API_PORT}", "--token", token,
            "--station-prefix", prefix, "--stations", str(s.command_chargers),
            "--rate", str(rate), "--duration", str(s.command_s),
            "--output", str(report_path),
        ]  # fmt: skip
        load = b.procs.start(argv, dict(os.environ), b.log)
        load.wait(timeout=s.command_s + 180)
        runs.append(json.loads(report_path.read_text()))
    proc.send_signal(signal.SIGTERM)
    b.finish_swarm(proc, out, 60)
    return {"chargers": s.command_chargers, "runs": runs}


def _frames_now(status: Path) -> int:
    """Frames the gateway published so far: each CALL and each CALLRESULT is one event."""
    p = progress(status)
    return int(p.get("sent", 0) + p.get("received", 0))


# --- burst (one gateway, the issue-3 scenarios) ------------------------------------------------


async def _kafka_frames(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=500, max_records=20000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                values.extend(r.value for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


def _log_bytes(log_dir: Path, topic: str) -> int:
    return sum(p.stat().st_size for p in log_dir.glob(f"{topic}-*/*.log"))


def _dictionary_bytes_per_frame(values: list[bytes]) -> float:
    """Per-event zstd with a dictionary trained on the first half, applied to the second."""
    half = len(values) // 2
    dictionary = zstandard.train_dictionary(16 * 1024, cast(Any, values[:half]))
    compressor = zstandard.ZstdCompressor(level=3, dict_data=dictionary)
    rest = values[half:]
    return sum(len(compressor.compress(v)) for v in rest) / len(rest)


async def _burst_async(b: Bench) -> dict[str, Any]:
    frames = b.scale.burst_frames
    prefix = f"{b.prefix}burst."
    # A burst is a flood by design: the per-connection rate limit (ADR 0007) is switched off.
    gw = b.start_gateway(
        BURST_PORT, "gw-bench-burst", CSMS_TOPIC_PREFIX=prefix, GATEWAY_RATE_LIMIT_PER_S="0"
    )
    b.wait_healthy([gw])
    url = f"ws://127.0.0.1:{BURST_PORT}/ocpp"
    scenarios: list[dict[str, Any]] = [
        {"mode": "sequential", "frames": frames // 10, "station_prefix": "SEQ"},
        {"mode": "pipelined", "frames": frames, "window": 16, "station_prefix": "PIPE"},
        {"mode": "sequential", "frames": frames, "connections": 100, "station_prefix": "MANY"},
    ]
    results: list[BurstResult] = []
    cpu_us: list[float] = []
    try:
        for scenario in scenarios:
            before = gw.cpu_s()
            result = await run_burst(url, **scenario)
            # Gateway CPU per answered CALL (one inbound + one outbound frame).
            cpu_us.append((gw.cpu_s() - before) / result.frames * 1e6)
            results.append(result)
    finally:
        b.procs.stop(gw.proc)
    topic = f"{prefix}ocpp.frames"
    values = await _kafka_frames(b.args.kafka_bootstrap, topic)
    storage = {
        "frames": float(len(values)),
        "raw": sum(map(len, values)) / len(values),
        "kafka_log": _log_bytes(b.args.kafka_log_dir, topic) / len(values),
        "dict": _dictionary_bytes_per_frame(values),
    }
    return {"bursts": [asdict(r) for r in results], "cpu_us": cpu_us, "storage": storage}


def burst(b: Bench) -> dict[str, Any]:
    return asyncio.run(_burst_async(b))


# --- Markdown ----------------------------------------------------------------------------------


def _ms(lat: dict[str, Any]) -> str:
    return f"{lat.get('p50', 0)} / {lat.get('p95', 0)} / {lat.get('p99', 0)}"


def _errors(report: dict[str, Any]) -> str:
    errors = report.get("errors") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"


def markdown(results: dict[str, Any], header: dict[str, str]) -> str:
    out = [
        f"### `make bench` — {header['when']}",
        "",
        f"Command: `{header['command']}`. Machine: {header['machine']}. "
        f"Other load on the machine at start: {header['load']}.",
        "",
    ]
    for key, why in results.items():
        if key.endswith("_failed"):
            out += [f"**Scenario {key[:-7]} failed:** `{why}`", ""]
    if "burst" in results:
        r = results["burst"]
        out += [
            "**Burst** (one gateway, MeterValues-heavy mix, each CALL answered after the "
            "Kafka ack)",
            "",
            "| scenario | connections | CALLs | CALLs/s | p50 ms | p99 ms | errors "
            "| gateway CPU µs per CALL |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for x, cpu in zip(r["bursts"], r["cpu_us"], strict=True):
            out.append(
                f"| {x['mode']} | {x['connections']} | {x['frames']:,} | "
                f"{x['frames_per_s']:,.0f} | {x['p50_ms']} | {x['p99_ms']} | {x['errors']} | "
                f"{cpu:,.0f} |"
            )
        st = r["storage"]
        out += [
            "",
            "| Kafka bytes per frame (target ≤ 40) | bytes |",
            "|---|---|",
            f"| envelope, uncompressed | {st['raw']:.0f} |",
            f"| Kafka log on disk, batch zstd as produced | {st['kafka_log']:.1f} |",
            f"| per-event zstd, trained 16 KiB dictionary (offline) | {st['dict']:.1f} |",
            f"| frames in topic | {st['frames']:,.0f} |",
            "",
        ]
    if "steady" in results:
        r = results["steady"]
        c, lat = r.get("connections", {"target": 0}), r.get("latency_ms", {"count": 0})
        out += [
            "**Steady state** (swarm: heartbeat 60 s, sessions 600 s on / 300 s off, meter "
            "values every 30 s, 1.6/2.0.1 half and half; latency recorded once every charger is "
            "booted, over the measured window)",
            "",
            "| chargers | booted (start / end of window) | s to boot | gateways | window s "
            "| CALLs measured | p50 / p95 / p99 ms (target p99 ≤ 20) | frames/s "
            "| gateway CPU s | errors (whole run) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {c['target']:,} | {r['booted_at_start']:,} / {r['booted_at_end']:,} | "
            f"{r['seconds_to_boot']} | {r['gateways']} | {r['measured_s']} | {lat['count']:,} | "
            f"{_ms(lat)} | {r['steady_frames_per_s']:,} | {r['gateway_cpu_s']} | {_errors(r)} |",
            "",
        ]
    caps = [results[k] for k in ("capacity", "capacity_compressed") if k in results]
    if caps:
        out += [
            "**Capacity** (chargers held at once; RSS summed over the gateway processes; "
            "target ≥ 50,000 at ≤ 40 KB per charger)",
            "",
            "| compression | gateways | target | connected (gateway side) "
            "| booted (swarm, may lag) | s to connect all "
            "| gateway RSS MB (idle) | KB per charger | KB per charger above idle | errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in caps:
            out.append(
                f"| {'on' if r['compression'] else 'off'} | {r['gateways']} | "
                f"{r['target']:,} | {r['connected']:,} | {r['booted']:,} | "
                f"{r['seconds_to_boot_all']} | {r['rss_mb']} ({r['baseline_rss_mb']}) | "
                f"{r['rss_per_charger_kb']} | {r['rss_above_idle_per_charger_kb']} | "
                f"{_errors(r['swarm'])} |"
            )
        out.append("")
        storms = [(r["compression"], r["storm"]) for r in caps if "storm" in r]
        if storms:
            out += [
                "**Reconnect storm** (every gateway SIGKILLed with all chargers booted, then "
                "restarted; target: 50,000 re-booted in ≤ 60 s, none lost)",
                "",
                "| chargers held | gateways healthy after s | all reconnected after s "
                "| reconnected | last boot accepted after s | boots accepted (whole run) |",
                "|---|---|---|---|---|---|",
            ]
            for _comp, st in storms:
                done = st["all_reconnected_after_s"]
                out.append(
                    f"| {st['chargers']:,} | {st['gateways_up_after_s']} | "
                    f"{done if done is not None else 'not all (gave up)'} | "
                    f"{st['reconnected']:,} | {st.get('last_boot_accepted_after_s')} | "
                    f"{st.get('boots_accepted_total')} |"
                )
            out.append("")
    if "throughput" in results:
        r = results["throughput"]
        out += [
            "**Frames into Kafka per gateway core** (one gateway; chargers in session sending "
            "MeterValues/TransactionEvent back to back, one CALL outstanding each; frames = CALLs "
            "+ CALLRESULTs; target ≥ 20,000 frames/s per core)",
            "",
            "| chargers | window s | frames/s | gateway cores used | frames per gateway "
            "CPU-second | CALL p99 ms |",
            "|---|---|---|---|---|---|",
            f"| {r['chargers']:,} | {r['window_s']} | {r['frames_per_s']:,} | "
            f"{r['gateway_cores_used']} | {r['frames_per_gateway_core_s']:,} | "
            f"{r['swarm'].get('latency_ms', {}).get('p99')} |",
            "",
        ]
    if "commands" in results:
        out += [
            "**Operator commands** (API → Redis → gateway → charger → back: synchronous "
            "`POST /api/v1/stations/{id}/commands/…`, a mix of clear-cache / trigger-message / "
            "get-configuration at a fixed rate; one API process, one gateway; target: 1,000 "
            "commands/s across 1,000 chargers)",
            "",
            "| chargers | offered/s | answered/s | p50 / p95 / p99 ms | statuses |",
            "|---|---|---|---|---|",
        ]
        for r in results["commands"].get("runs", []):
            lat = r.get("latency_ms", {})
            out.append(
                f"| {r.get('stations')} | {r.get('target_rate')} | {r.get('achieved_rate')} | "
                f"{lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} | {r.get('statuses')} |"
            )
        out.append("")
    raw = json.dumps(results, indent=1, default=str)
    out += ["<details><summary>raw results (JSON)</summary>", "", "```json", raw, "```"]
    out += ["", "</details>"]
    return "\n".join(out)


def write_docs(path: Path, section: str) -> None:
    """Replace what lies between the bench markers (appending them if missing)."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}", encoding="utf-8")


# --- main --------------------------------------------------------------------------------------


def run(
    args: argparse.Namespace,
    done: Callable[[dict[str, Any]], None] = lambda _: None,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the wanted scenarios in order; `done` sees the results after each one."""
    b = Bench(args)
    print(f"bench: logs and swarm reports in {b.tmp}", file=sys.stderr)
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    results: dict[str, Any] = dict(previous or {})
    steps = {
        "burst": lambda: {"burst": burst(b)},
        "steady": lambda: {"steady": steady(b)},
        "capacity": lambda: {
            "capacity": capacity_and_storm(b, compression=False, storm="storm" in wanted)
        },
        "storm": lambda: (
            {}
            if "capacity" in wanted
            else {"capacity": capacity_and_storm(b, compression=False, storm=True)}
        ),
        "compression": lambda: {
            "capacity_compressed": capacity_and_storm(b, compression=True, storm=False)
        },
        "throughput": lambda: {"throughput": throughput(b)},
        "commands": lambda: {"commands": commands(b)},
    }
    try:
        for name in wanted:
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                results.update(steps[name]())
            except Exception as exc:  # one failed scenario must not lose the others' figures
                results[f"{name}_failed"] = f"{type(exc).__name__}: {exc}"
            print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", file=sys.stderr)
            done(results)
    finally:
        b.procs.stop_all()
    return results


def _header(args: argparse.Namespace) -> dict[str, str]:
    mem = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m loadtests.bench " + " ".join(sys.argv[1:]),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {mem:.0f} GB RAM, "
        f"Python {platform.python_version()}",
        "load": f"load average {load}",
    }


def _interrupt(*_: object) -> None:
    """SIGTERM ends the bench like Ctrl-C: the finally blocks stop every child."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--scenarios",
        default=",".join(ALL_SCENARIOS),
        help=f"comma-separated, from {', '.join(ALL_SCENARIOS)}",
    )
    parser.add_argument("--write-docs", type=Path, help="replace the bench section of this file")
    parser.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep the figures of scenarios not rerun from the section already in --write-docs",
    )
    parser.add_argument(
        "--kafka-bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--kafka-log-dir", type=Path, default=LOCAL_STATE_DIR / "kafka" / "data")
    args = parser.parse_args()
    header = _header(args)
    signal.signal(signal.SIGTERM, _interrupt)

    def publish(results: dict[str, Any]) -> None:
        # After every scenario: an interrupted full run still leaves the figures it measured.
        if args.write_docs:
            write_docs(args.write_docs, markdown(results, header))

    previous = previous_results(args.write_docs, args.scenarios) if args.keep_previous else {}
    if previous:
        header["command"] += f"; kept from the previous run: {', '.join(sorted(previous))}"
    print(markdown(run(args, publish, previous), header))


def previous_results(path: Path | None, scenarios: str) -> dict[str, Any]:
    """The raw results of the bench section already in `path`, minus those being rerun."""
    if path is None or not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or "```json" not in text.split(BEGIN, 1)[1]:
        return {}
    raw = text.split(BEGIN, 1)[1].split("```json", 1)[1].split("```", 1)[0]
    rerun = {s.strip() for s in scenarios.split(",")}
    rerun |= {"capacity"} if rerun & {"capacity", "storm"} else set()
    rerun |= {"capacity_compressed"} if "compression" in rerun else set()
    old: dict[str, Any] = json.loads(raw)
    return {k: v for k, v in old.items() if k.removesuffix("_failed") not in rerun}


if __name__ == "__main__":
    main()
