"""CSMS-initiated CALLs on the real stack: two gateway processes (ports 19720 and 19721, real
Kafka, Redis DB 5), a 1.6 and a 2.0.1 `ocpp` ChargePoint connected one to each, reached through
the API side of the contract (`CallBus` + `route_of`). Both the CALL and the station's answer are
on ocpp.frames; a disconnected station loses its route; a gateway killed with SIGKILL mid-call
yields `no_answer`/`unreachable`, never a hang; a gateway drained with SIGTERM answers the call
it holds (`offline`, "gateway restarting") and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from redis.asyncio import Redis

from csms.envelope import FrameEnvelope
from csms.infra.call_bus import CallBus, CallReply, route_of
from csms.infra.redis_client import make_redis
from csms.settings import Settings
from tests.stack.chargers import Charger16, Charger201, charger
from tests.stack.conftest import wait_http
from tests.stack.gateway_process import gateway_env, launch_gateway, stop_processes
from tests.stack.kafka_reader import read_frames

pytestmark = pytest.mark.stack

PORTS = {"gw-calls-a": 19720, "gw-calls-b": 19721}
REDIS_URL = "redis://127.0.0.1:6379/5"
KAFKA = "127.0.0.1:9092"
RUN = uuid.uuid4().hex[:6]
CP16, CP201 = f"CALLS-16-{RUN}", f"CALLS-201-{RUN}"


@dataclass
class Gateways:
    procs: dict[str, subprocess.Popen[bytes]]
    prefix: str
    logs: dict[str, Path]

    def url(self, gateway: str, station: str) -> str:
        return f"ws://127.0.0.1:{PORTS[gateway]}/ocpp/{station}"


def _start(gateway: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    env = gateway_env(
        gateway, PORTS[gateway], redis_url=REDIS_URL, kafka=KAFKA, prefix=prefix,
        GATEWAY_DRAIN_WINDOW_S="0.5",
    )  # fmt: skip
    return launch_gateway(env, log)


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    r = redis_sync.Redis.from_url(REDIS_URL)
    r.flushdb()
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    folder = Path(tmp_path_factory.mktemp("gw-calls"))
    logs = {gw: folder / f"{gw}.log" for gw in PORTS}
    procs = {gw: _start(gw, prefix, logs[gw]) for gw in PORTS}
    try:
        for gw, proc in procs.items():
            health = f"http://127.0.0.1:{PORTS[gw]}/health"
            wait_http(health, time.monotonic() + 60, proc, logs[gw])
        yield Gateways(procs, prefix, logs)
    finally:
        stop_processes(*procs.values(), within_s=30)
        r.flushdb()
        r.close()


@contextlib.asynccontextmanager
async def api_side() -> AsyncIterator[tuple[CallBus, Redis]]:
    redis = make_redis(replace(Settings(), redis_url=REDIS_URL))
    bus = CallBus(redis)
    await bus.start()
    try:
        yield bus, redis
    finally:
        await bus.stop()
        await redis.aclose()


async def _call(
    bus: CallBus, redis: Redis, station: str, action: str, payload: dict[str, Any], t: float = 10
) -> CallReply:
    route = await route_of(redis, station)
    assert route is not None, f"{station} has no route"
    return await bus.call(station, route, action, payload, timeout_s=t)


async def _until_route(redis: Redis, station: str, gateway: str | None) -> None:
    for _ in range(100):
        route = await route_of(redis, station)
        if (route.gateway if route else None) == gateway:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"route of {station} never became {gateway}")


async def _frames(prefix: str, uids: set[str], min_count: int) -> list[FrameEnvelope]:
    topic = f"{prefix}ocpp.frames"
    return await read_frames(KAFKA, topic, lambda env: env.uid in uids, min_count)


async def test_calls_reach_each_station_through_the_gateway_that_holds_it(
    gateways: Gateways,
) -> None:
    async with (
        api_side() as (bus, redis),
        charger(gateways.url("gw-calls-a", CP16), Charger16, CP16, "ocpp1.6") as cp16,
        charger(gateways.url("gw-calls-b", CP201), Charger201, CP201, "ocpp2.0.1") as cp201,
    ):
        boot16 = await cp16.call(
            call16.BootNotification(charge_point_model="M", charge_point_vendor="V")
        )
        boot201 = await cp201.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        assert (boot16.status, boot201.status) == ("Accepted", "Accepted")
        await _until_route(redis, CP16, "gw-calls-a")
        await _until_route(redis, CP201, "gw-calls-b")
        old_route = await route_of(redis, CP16)

        component = {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        }
        replies = {
            ("gw-calls-a", "Reset"): await _call(bus, redis, CP16, "Reset", {"type": "Soft"}),
            ("gw-calls-a", "GetConfiguration"): await _call(
                bus, redis, CP16, "GetConfiguration", {"key": ["HeartbeatInterval"]}
            ),
            ("gw-calls-a", "ChangeAvailability"): await _call(
                bus, redis, CP16, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
            ),
            # No handler in the charger: the ocpp package answers CALLERROR NotImplemented.
            ("gw-calls-a", "ClearCache"): await _call(bus, redis, CP16, "ClearCache", {}),
            ("gw-calls-b", "Reset"): await _call(bus, redis, CP201, "Reset", {"type": "Immediate"}),
            ("gw-calls-b", "GetVariables"): await _call(
                bus, redis, CP201, "GetVariables", {"getVariableData": [component]}
            ),
            ("gw-calls-b", "ChangeAvailability"): await _call(
                bus, redis, CP201, "ChangeAvailability", {"operationalStatus": "Inoperative"}
            ),
        }
        for (gateway, action), reply in replies.items():
            assert reply.gateway == gateway, (action, reply)
            expected = "error" if action == "ClearCache" else "result"
            assert reply.outcome == expected, (gateway, action, reply)
        assert replies[("gw-calls-a", "Reset")].payload == {"status": "Accepted"}
        assert replies[("gw-calls-a", "GetConfiguration")].payload == {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        }
        assert replies[("gw-calls-a", "ChangeAvailability")].payload == {"status": "Scheduled"}
        assert replies[("gw-calls-a", "ClearCache")].error["code"] == "NotImplemented"
        assert replies[("gw-calls-b", "GetVariables")].payload["getVariableResult"] == [
            {"attributeStatus": "Accepted", "attributeValue": "300", **component}
        ]
        assert replies[("gw-calls-b", "ChangeAvailability")].payload == {"status": "Accepted"}

    # Every CALL and its answer are on ocpp.frames, with the CALL's action, from its gateway.
    by_id = {reply.id: (gw, action, reply) for (gw, action), reply in replies.items()}
    frames = await _frames(gateways.prefix, set(by_id), 2 * len(by_id))
    for uid, (gw, action, reply) in by_id.items():
        mine = [(f.gw, f.dir, f.kind, f.action) for f in frames if f.uid == uid]
        answer_kind = "error" if reply.outcome == "error" else "result"
        assert mine == [(gw, "out", "call", action), (gw, "in", answer_kind, action)], uid

    # Both chargers disconnected: their routes are gone; a call on the stale route is offline.
    async with api_side() as (bus, redis):
        await _until_route(redis, CP16, None)
        await _until_route(redis, CP201, None)
        assert old_route is not None
        stale = await bus.call(CP16, old_route, "Reset", {"type": "Soft"}, timeout_s=5)
        assert (stale.outcome, stale.detail) == ("offline", "station not connected to gw-calls-a")


async def test_a_gateway_killed_mid_call_never_leaves_the_caller_hanging(
    gateways: Gateways,
) -> None:
    station = f"CALLS-KILL-{RUN}"
    async with (
        api_side() as (bus, redis),
        charger(gateways.url("gw-calls-b", station), Charger201, station, "ocpp2.0.1"),
    ):
        await _until_route(redis, station, "gw-calls-b")
        route = await route_of(redis, station)
        assert route is not None
        pending = asyncio.create_task(
            bus.call(station, route, "ClearCache", {}, timeout_s=3)  # the charger sits on it
        )
        await asyncio.sleep(0.5)
        gateways.procs["gw-calls-b"].send_signal(signal.SIGKILL)
        await asyncio.to_thread(gateways.procs["gw-calls-b"].wait, 30)
        reply = await asyncio.wait_for(pending, 30)
        assert reply.outcome == "no_answer", reply
        # The dead gateway never released the route; calling through it finds nobody.
        stale = await route_of(redis, station)
        assert stale is not None and stale.gateway == "gw-calls-b"
        after = await bus.call(station, stale, "Reset", {"type": "Immediate"}, timeout_s=2)
        assert after.outcome in {"unreachable", "no_answer"}, after


async def test_a_draining_gateway_answers_the_calls_it_holds(gateways: Gateways) -> None:
    station = f"CALLS-DRAIN-{RUN}"
    proc = gateways.procs["gw-calls-a"]
    async with (
        api_side() as (bus, redis),
        charger(gateways.url("gw-calls-a", station), Charger16, station, "ocpp1.6"),
    ):
        await _until_route(redis, station, "gw-calls-a")
        route = await route_of(redis, station)
        assert route is not None
        pending = asyncio.create_task(
            bus.call(station, route, "UnlockConnector", {"connectorId": 1}, timeout_s=20)
        )
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        reply = await asyncio.wait_for(pending, 30)
        assert (reply.outcome, reply.detail) == ("offline", "gateway restarting"), reply
    assert await asyncio.to_thread(proc.wait, 30) == 0
