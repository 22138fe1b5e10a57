"""The soak run: the stack, the swarm and the fleet started, a sample every minute for the
hours asked, then the loads stopped, the nothing-lost checks, the verdict and the charts."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from csms.settings import Settings, Topics
from loadtests.faults.checks import check_everything
from loadtests.faults.infra import PrivateInfra
from loadtests.faults.report import Report
from loadtests.faults.run import assign_tariff
from loadtests.faults.stack import DEADLINE_S, SERVICES, LocalStack, api_client
from loadtests.fleet import FleetRecord, make_fleet, until_connected
from loadtests.processes import ServiceProcess
from loadtests.soak.analysis import Verdict, judge
from loadtests.soak.sample import GroupLag, ProcessWatch, api_latencies, drain, latency_summary

REPLAY_TIMEOUT_S = 3600.0
API_PATHS = ("/api/v1/stations?limit=50", "/api/v1/transactions?limit=50", "/health")


@dataclass(frozen=True)
class SoakConfig:
    hours: float
    state: Path  # the run's folder: infra, csms up, samples.jsonl, the swarm's log and report
    swarm_chargers: int = 3_000
    fleet: int = 24
    sample_s: float = 60.0
    warmup_s: float = 900.0  # samples before this do not count toward the slopes
    port_base: int = 29700  # the CSMS's four ports
    infra_port_base: int = 29710  # Kafka, its controller, Redis

    @property
    def samples_path(self) -> Path:
        return self.state / "samples.jsonl"


@dataclass
class SoakResult:
    samples: list[dict[str, Any]]
    verdict: Verdict
    checks: Report
    swarm: dict[str, Any]
    restarts: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.checks.ok and not self.restarts


async def run_soak(cfg: SoakConfig) -> SoakResult:
    """Start everything on private infrastructure, sample until the hours are over, check."""
    cfg.state.mkdir(parents=True, exist_ok=True)
    infra = PrivateInfra(cfg.state / "infra", cfg.infra_port_base)
    await asyncio.to_thread(infra.start)
    # The sink batches as in production (the fault run's stack flushes every 0.2 s instead,
    # to see a frame in ClickHouse soon after a fault).
    batches = {"ANALYTICS_BATCH_SECONDS": str(Settings().analytics_batch_seconds)}
    stack = LocalStack(cfg.state, infra.kafka, infra.redis_url(), cfg.port_base, extra_env=batches)
    try:
        return await _soak(cfg, infra, stack)
    finally:
        await stack.stop()
        await asyncio.to_thread(infra.wipe)


async def _soak(cfg: SoakConfig, infra: PrivateInfra, stack: LocalStack) -> SoakResult:
    await stack.start()
    await assign_tariff(stack)
    swarm = _swarm(cfg, stack).start()
    record = FleetRecord()
    fleet = make_fleet(stack.gateway_url, cfg.fleet, record, interval_s=10, meter_values=6)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in fleet]
    watch = ProcessWatch(lambda: _pids(stack, infra, swarm))
    lag = GroupLag(stack.kafka, _groups(stack))
    await lag.start()
    samples: list[dict[str, Any]] = []
    try:
        await until_connected(fleet, DEADLINE_S)
        with cfg.samples_path.open("w", encoding="utf-8") as out:
            await _sample_until(cfg, stack, watch, lag, record, samples, out)
    finally:
        await lag.stop()
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE_S)
        await swarm.stop_async(60)
    checks = Report()
    # Hours of frames to replay: the 2-hour soak's took more than the fault run's 180 s.
    await check_everything(stack, record, checks, replay_timeout_s=REPLAY_TIMEOUT_S)
    return SoakResult(samples, judge(samples, cfg.warmup_s), checks, _swarm_report(cfg),
                      watch.restarts)  # fmt: skip


async def _sample_until(
    cfg: SoakConfig,
    stack: LocalStack,
    watch: ProcessWatch,
    lag: GroupLag,
    record: FleetRecord,
    samples: list[dict[str, Any]],
    out: TextIO,
) -> None:
    """A sample every `sample_s` until `hours` are over, each written and printed as it comes."""
    started = time.monotonic()
    deadline = started + cfg.hours * 3600.0
    watch.sample()  # starts every process's CPU clock
    async with api_client(stack) as api:
        while (now := time.monotonic()) < deadline:
            await asyncio.sleep(min(cfg.sample_s, deadline - now))
            sample = {
                "t_s": round(time.monotonic() - started, 1),
                "wall": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "processes": watch.sample(),
                "lag": await lag.sample(),
                "latency_ms": {
                    **latency_summary(drain(record.latencies_s), "ocpp"),
                    **latency_summary(await api_latencies(api, API_PATHS), "api"),
                },
                "fleet_sessions": len(record.sessions),
            }
            samples.append(sample)
            out.write(orjson.dumps(sample).decode() + "\n")
            out.flush()
            print(_line(sample), flush=True)


def _line(sample: dict[str, Any]) -> str:
    rss = " ".join(f"{n}={p['rss_mib']:.0f}" for n, p in sample["processes"].items())
    lat = sample["latency_ms"]
    return (
        f"soak {sample['t_s'] / 60:6.1f} min  rss MiB {rss}  lag {sample['lag']}  "
        f"ocpp p99 {lat.get('ocpp_p99', '-')} ms  sessions {sample['fleet_sessions']}"
    )


def _swarm(cfg: SoakConfig, stack: LocalStack) -> ServiceProcess:
    """The bulk load: `swarm_chargers` raw chargers for the whole soak (stopped at its end)."""
    argv = [
        sys.executable, "-m", "loadtests.swarm", "--url", stack.gateway_url,
        "--chargers", str(cfg.swarm_chargers), "--ramp", str(_ramp_s(cfg)),
        "--duration", str(cfg.hours * 3600.0 + DEADLINE_S * 2),
        "--heartbeat-interval", "120", "--meter-interval", "30",
        "--session", "1200", "--idle", "600", "--station-prefix", "SOAK",
        "--output", str(cfg.state / "swarm.json"),
    ]  # fmt: skip
    return ServiceProcess(argv, stack.env, cfg.state / "swarm.log")


def _ramp_s(cfg: SoakConfig) -> float:
    """Two minutes to start every charger, or a quarter of a shorter run."""
    return min(120.0, cfg.hours * 3600.0 / 4)


def _swarm_report(cfg: SoakConfig) -> dict[str, Any]:
    try:
        report: dict[str, Any] = orjson.loads((cfg.state / "swarm.json").read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return {}
    report.pop("latency_hist", None)
    return report


def _pids(stack: LocalStack, infra: PrivateInfra, swarm: ServiceProcess) -> dict[str, int | None]:
    pids: dict[str, int | None] = {service: stack.child_pid(service) for service in SERVICES}
    for part in ("kafka", "redis"):
        try:
            pids[part] = int((infra.state / "run" / f"{part}.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            pids[part] = None
    pids["swarm"] = swarm.pid
    return pids


def _groups(stack: LocalStack) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each consumer group of the stack and the topics it reads."""
    settings = Settings(
        topics=Topics(prefix=stack.prefix),
        processors_app_id=stack.env["PROCESSORS_APP_ID"],
        analytics_group_id=stack.env["ANALYTICS_GROUP_ID"],
    )
    t = settings.topics
    return {
        "processors": (settings.processors_app_id, (t.frames, t.policy)),
        "billing": (settings.processors_billing_group, (t.transactions,)),
        "analytics": (settings.analytics_group_id, (t.frames, t.transactions, t.status, t.bills)),
    }
