"""The reconnect-storm guard and the per-station token bucket (pure, with a fake clock)."""

from __future__ import annotations

import random

import orjson

from services.gateway.ratelimit import TokenBucket
from services.gateway.storm import StormGuard
from tests.unit.gateway.fakes import FixedDecisions, RecordingPublisher
from tests.unit.gateway.helpers import make_context, running, ws_connect


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_boots_below_the_threshold_get_the_real_decision() -> None:
    clock = FakeClock()
    guard = StormGuard(FixedDecisions(), boots_per_s=5, retry_s=30, clock=clock)
    for _ in range(5):
        assert (await guard.boot("CP-1")).status == "Accepted"
    clock.now += 2  # a quiet second later the count restarts
    assert (await guard.boot("CP-1")).status == "Accepted"


async def test_a_boot_flood_is_answered_pending_with_jittered_intervals() -> None:
    clock = FakeClock()
    guard = StormGuard(
        FixedDecisions(), boots_per_s=10, retry_s=30, clock=clock, rng=random.Random(4)
    )
    decisions = [await guard.boot(f"CP-{i}") for i in range(200)]
    deferred = decisions[10:]
    assert all(d.status == "Pending" for d in deferred)
    intervals = {d.interval_s for d in deferred}
    assert min(intervals) >= 30
    assert len(intervals) > 20  # spread, not lock-step
    # The spread grows with the overload: late boots (more over capacity) may wait longer.
    assert max(d.interval_s for d in deferred[-50:]) > max(d.interval_s for d in deferred[:5])
    # The previous second's rate still counts for a moment, then the storm is over.
    clock.now += 1
    assert (await guard.boot("CP-late")).status == "Pending"
    clock.now += 5
    assert (await guard.boot("CP-calm")).status == "Accepted"


async def test_kafka_inflight_above_the_bound_defers_boots() -> None:
    inflight = [0.0]
    guard = StormGuard(
        FixedDecisions(),
        boots_per_s=1000,
        retry_s=10,
        max_inflight=100,
        inflight=lambda: inflight[0],
    )
    assert (await guard.boot("CP-1")).status == "Accepted"
    inflight[0] = 250
    decision = await guard.boot("CP-2")
    assert decision.status == "Pending"
    assert decision.interval_s >= 10
    assert await guard.authorize("BLOCKED") == "Blocked"  # the rest passes through


async def test_the_guard_answers_boot_notifications_over_a_real_socket() -> None:
    guard = StormGuard(FixedDecisions(), boots_per_s=1, retry_s=7, clock=FakeClock())
    ctx = make_context(RecordingPublisher(), decisions=guard)
    boot = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    async with running(ctx, 19785):
        statuses = []
        for i in range(3):
            async with ws_connect(19785, f"CP-{i}") as ws:
                await ws.send(orjson.dumps(boot).decode())
                statuses.append(orjson.loads(await ws.recv())[2])
    assert statuses[0]["status"] == "Accepted"
    assert [s["status"] for s in statuses[1:]] == ["Pending", "Pending"]
    assert all(s["interval"] >= 7 for s in statuses[1:])


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.overflows == 1
    clock.now += 0.5  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 100  # refills to the burst, not beyond
    assert sum(bucket.take() for _ in range(10)) == 3
