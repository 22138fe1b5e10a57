"""The run: the stack and the fleet started, each fault injected (a service killed with
`kill -9` or paused with SIGSTOP, Kafka or Redis restarted) and watched until every part is
back and does its job again, a SIGTERM under load timed, then the checks."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

import httpx

from loadtests.faults.checks import check_everything, session_problem
from loadtests.faults.infra import PrivateInfra
from loadtests.faults.netem import add_loopback_delay, remove_loopback_delay
from loadtests.faults.report import Recovery, Report
from loadtests.faults.stack import DEADLINE_S, SERVICES, LocalStack, api_client
from loadtests.fleet import FleetCharger, FleetRecord, make_fleet, until_connected

KILLS = tuple(f"kill {service}" for service in SERVICES)
# Every fault the run knows, in the order a full run injects them.
FAULTS = (
    *KILLS, "pause gateway", "unreachable clickhouse", "restart redis", "restart kafka",
    "delay loopback",
)  # fmt: skip
LOOPBACK_DELAY_MS, LOOPBACK_JITTER_MS = 50, 10
TARIFF = {"id": "fault-flat", "currency": "EUR", "energy_per_kwh": "0.40", "session_fee": "0.50"}


async def run_faults(
    stack: LocalStack,
    *,
    rounds: int,
    fleet_size: int,
    settle_s: float = 3.0,
    faults: Sequence[str] = KILLS,
    infra: PrivateInfra | None = None,
    pause_s: float = 30.0,
    outage_s: float = 60.0,
) -> Report:
    """Start the stack and the fleet, inject each fault `rounds` times, then check. Restarting
    Kafka or Redis needs the run's own (`infra`): nobody else's is touched; ClickHouse made
    unreachable needs the stack's own server (LocalStack(clickhouse_server=True)). A pause,
    an unreachable ClickHouse and a loopback delay last `pause_s`, `outage_s` and `pause_s`."""
    check_faults(faults, stack, infra)
    report = Report()
    record = FleetRecord()
    await stack.start()
    await assign_tariff(stack)
    fleet = make_fleet(stack.gateway_url, fleet_size, record, interval_s=0.5, meter_values=3)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in fleet]
    try:
        await until_connected(fleet, DEADLINE_S)
        await asyncio.sleep(settle_s)
        for n in range(1, rounds + 1):
            for fault in faults:
                watched = await _inject_and_watch(
                    stack, fleet, record, fault, n, infra, (pause_s, outage_s)
                )
                report.recoveries.append(watched)
                await asyncio.sleep(settle_s)
        for service in SERVICES:
            report.sigterm_stop_s[service] = await _sigterm(stack, service)
            await asyncio.sleep(settle_s)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), DEADLINE_S)
    await check_everything(stack, record, report)
    return report


def unknown_faults(faults: Sequence[str]) -> list[str]:
    return [f for f in faults if f not in FAULTS]


def check_faults(faults: Sequence[str], stack: LocalStack, infra: PrivateInfra | None) -> None:
    """Raise when a fault is unknown or what it needs is missing."""
    if unknown := unknown_faults(faults):
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    if infra is None and any(f.startswith("restart") for f in faults):
        raise ValueError(f"faults {list(faults)}: restarting Kafka or Redis needs a PrivateInfra")
    if stack.clickhouse_server is None and "unreachable clickhouse" in faults:
        raise ValueError("unreachable clickhouse needs LocalStack(clickhouse_server=True)")


def touched(fault: str) -> tuple[str, ...]:
    """The services a fault touches: each is watched until it does its job again."""
    action, part = fault.split(" ", 1)
    if action in ("restart", "delay"):  # Kafka, Redis, the network: everybody's
        return SERVICES
    if fault == "unreachable clickhouse":
        return ("analytics",)
    return (part,)


async def assign_tariff(stack: LocalStack) -> None:
    async with api_client(stack) as api:
        created = await api.post("/api/v1/tariffs", json=TARIFF)
        assert created.status_code in (201, 409), created.text
        assign = {"scope": "default", "tariff_id": TARIFF["id"], "valid_from_ms": 0}
        assigned = await api.put("/api/v1/tariff-assignments", json=assign)
        assert assigned.status_code == 200, assigned.text


async def _inject_and_watch(
    stack: LocalStack,
    fleet: list[FleetCharger],
    record: FleetRecord,
    fault: str,
    n: int,
    infra: PrivateInfra | None,
    durations: tuple[float, float],
) -> Recovery:
    """Inject `fault`; back: until the part answers again; recovered: until it does its job."""
    action, part = fault.split(" ", 1)
    pause_s, outage_s = durations
    started, started_wall_ms = time.monotonic(), int(time.time() * 1000)
    if action == "kill":
        await _kill(stack, part)
    elif action == "pause":
        await _pause(stack.child_pid(part), pause_s)
    elif action == "unreachable":
        assert stack.clickhouse_server is not None  # run_faults checked it
        await _pause(stack.clickhouse_server.pid, outage_s)
    elif action == "delay":
        if why_not := await _delay_loopback(pause_s):
            return Recovery(fault, n, 0.0, 0.0, skipped=why_not)
    else:
        assert infra is not None  # run_faults checked it
        await asyncio.to_thread(infra.restart, part)
    back_s = time.monotonic() - started
    probes = _probes(stack, fleet, record, started, started_wall_ms)
    for service in touched(fault):
        await stack.until(partial(stack.healthy, service), f"{service} healthy after {fault}")
        await stack.until(probes[service], f"{service} recovered after {fault}")
    return Recovery(fault, n, round(back_s, 2), round(time.monotonic() - started, 2))


async def _kill(stack: LocalStack, service: str) -> None:
    """`kill -9`; returns once the supervisor restarted it and it answers its health URL."""
    pid = stack.child_pid(service)
    assert pid is not None, f"no pid for {service}"
    os.kill(pid, signal.SIGKILL)
    await stack.until(partial(_restarted, stack, service, pid), f"{service} restarted")


async def _pause(pid: int | None, seconds: float) -> None:
    """SIGSTOP for `seconds`, then SIGCONT: a hung process, a stalled VM - or, for a server, a
    network partition as its clients see it (connections accepted by the kernel, nothing
    answered); a server refusing connections (killed) is tests/stack/test_analytics_outage.py."""
    assert pid is not None, "no pid to pause"
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


async def _delay_loopback(seconds: float) -> str:
    """Loopback latency raised for `seconds`; "" when done, else why it could not be."""
    if why_not := await asyncio.to_thread(
        add_loopback_delay, LOOPBACK_DELAY_MS, LOOPBACK_JITTER_MS
    ):
        return why_not
    try:
        await asyncio.sleep(seconds)
    finally:
        if why_not := await asyncio.to_thread(remove_loopback_delay):
            raise RuntimeError(f"the loopback delay stays: {why_not}")
    return ""


def _probes(
    stack: LocalStack, fleet: list[FleetCharger], record: FleetRecord, t: float, wall_ms: int
) -> dict[str, Callable[[], Awaitable[bool]]]:
    """Per service, whether it does its job again since `t` (monotonic) / `wall_ms`."""
    return {
        "gateway": lambda: _all_served_since(fleet, record, t),
        "processors": lambda: _a_session_billed_since(stack, record, t),
        "analytics": lambda: _a_frame_queryable_since(stack, wall_ms),
        "api": lambda: _api_answers(stack),
    }


async def _sigterm(stack: LocalStack, service: str) -> float:
    """Seconds from SIGTERM to the service's exit, under load (the supervisor restarts it;
    this waits until it is healthy again)."""
    pid = stack.child_pid(service)
    assert pid is not None, f"no pid for {service}"
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    await stack.until(lambda: _exited(pid), f"{service} stopped after SIGTERM")
    stopped = time.monotonic() - sent
    await stack.until(
        partial(_restarted, stack, service, pid), f"{service} restarted after SIGTERM"
    )
    return round(stopped, 2)


async def _restarted(stack: LocalStack, service: str, old_pid: int) -> bool:
    """The supervisor runs `service` in a new process, and it answers its health URL."""
    new = stack.child_pid(service)
    return new is not None and new != old_pid and await stack.healthy(service)


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
    waiting = sorted(c.station for c in fleet if record.last_ok.get(c.station, 0.0) <= t)
    if waiting:
        _say("gateway", f"not served since the fault: {', '.join(waiting)}")
    return not waiting


async def _a_session_billed_since(stack: LocalStack, record: FleetRecord, t: float) -> bool:
    later = [s for s in record.sessions if s.finished_s > t]
    if not later:
        return False
    async with api_client(stack) as api:
        problem = await session_problem(api, later[0])
    if problem:
        _say("processors", f"{later[0].station}/{later[0].transaction_id}: {problem}")
    return problem == ""


_said: dict[str, str] = {}  # what each probe said last


def _say(probe: str, what: str) -> None:
    """Print what a probe still waits for, when it changed: a stuck wait says who and why."""
    if _said.get(probe) != what:
        _said[probe] = what
        print(f"faults: {what}", flush=True)


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
        async with api_client(stack) as api:
            return (await api.get("/api/v1/stations", params={"limit": 1})).status_code == 200
    except httpx.HTTPError:
        return False
