"""One simulated charger: a single coroutine (no reader task) per connection.

It sends one CALL at a time, as OCPP asks; while waiting for an answer or idling until its next
action it keeps reading, so CSMS-initiated CALLs are answered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from loadtests import ocpp_payloads as payloads
from loadtests.ocpp_payloads import Tx
from loadtests.swarm import frames as f
from loadtests.swarm.config import SwarmConfig, source_address, station_id, target_url
from loadtests.swarm.report import Stats

_PERIODIC_EPS = 0.001


class Charger:
    def __init__(self, index: int, cfg: SwarmConfig, stats: Stats, t0: float) -> None:
        self.index = index
        self.cfg = cfg
        self.stats = stats
        self.station = station_id(cfg.station_prefix, index)
        self.v201 = is_201(index, cfg.ratio_201)
        self.proto = "ocpp2.0.1" if self.v201 else "ocpp1.6"
        self.url = f"{target_url(index, cfg.urls)}/{self.station}"
        self.local_addr = (source_address(index, cfg.per_source_ip), 0)
        # Each worker spreads its own slice over the whole ramp, so workers ramp in parallel.
        indexes = cfg.indexes()
        share = (index - indexes.start) / max(len(indexes), 1)
        self.start_at = t0 + cfg.ramp_s * share
        self.deadline = t0 + cfg.duration_s
        self.uid = 0
        self.tx = Tx(f"TAG-{index}", meter_wh=1000)
        self.charging = False

    # --- connection life ---------------------------------------------------------------------

    async def run(self) -> None:
        await asyncio.sleep(max(0.0, self.start_at - time.monotonic()))
        failures = 0
        ever_connected = False
        while time.monotonic() < self.deadline:
            try:
                ws = await websockets.connect(
                    self.url,
                    subprotocols=[self.proto],  # type: ignore[list-item]
                    compression="deflate" if self.cfg.compression else None,
                    open_timeout=self.cfg.open_timeout_s,
                    ping_interval=None,
                    close_timeout=1,
                    max_size=2**20,
                    local_addr=self.local_addr,
                    # Loopback only: skip the per-connect proxy lookup in the environment
                    # (visible in the swarm's profile at thousands of connects per second).
                    proxy=None,
                )
            except (
                OSError,
                TimeoutError,
                websockets.InvalidHandshake,
                # The gateway went away during the opening handshake (killed, overloaded).
                websockets.ConnectionClosed,
            ) as exc:
                self.stats.failed += 1
                self.stats.errors[f"connect:{type(exc).__name__}"] += 1
                failures += 1
                await self._sleep(_backoff(failures, self.cfg))
                continue
            if not ever_connected:
                ever_connected = True
                self.stats.established += 1
            self.stats.connects += 1
            self.stats.connected_now += 1
            booted = False
            try:
                booted = await self._boot(ws)
                if booted:
                    failures = 0
                    self.stats.booted_now += 1
                    await self._live(ws)
            except websockets.ConnectionClosed:
                self.stats.errors["disconnect"] += 1
            finally:
                self.stats.connected_now -= 1
                if booted:
                    self.stats.booted_now -= 1
                # The old socket may be dead already (a gateway killed, a reset): closing it can
                # raise then (it does on uvloop), and this charger must still reconnect.
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.close()
            failures += 1
            if time.monotonic() < self.deadline:
                await self._sleep(_backoff(failures, self.cfg))

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, min(seconds, self.deadline - time.monotonic())))

    # --- OCPP-J ------------------------------------------------------------------------------

    async def _recv(self, ws: ClientConnection) -> list[Any]:
        text = await ws.recv()
        self.stats.received += 1
        msg: list[Any] = orjson.loads(text)
        if msg[0] == 2:  # a CSMS-initiated CALL: answer it right away
            self.stats.sent += 1
            await ws.send(f.generic_result(msg[1], msg[2], msg[3] if len(msg) > 3 else None))
        return msg

    async def call(self, ws: ClientConnection, action: str, payload: dict[str, Any]) -> Any:
        """Send a CALL, return the CALLRESULT payload (None on CALLERROR or timeout)."""
        self.uid += 1
        uid = str(self.uid)
        self.stats.calls[action] += 1
        t_sent = time.perf_counter()
        await ws.send(f.call(uid, action, payload))
        self.stats.sent += 1
        try:
            async with asyncio.timeout(self.cfg.call_timeout_s):
                while True:
                    msg = await self._recv(ws)
                    if msg[0] != 2 and msg[1] == uid:
                        break
        except TimeoutError:
            self.stats.errors[f"timeout:{action}"] += 1
            return None
        if time.monotonic() >= self.stats.measure_after:
            self.stats.observe(time.perf_counter() - t_sent)
        if msg[0] == 4:
            self.stats.errors[f"callerror:{msg[2]}"] += 1
            return None
        return msg[2]

    async def idle_until(self, ws: ClientConnection, until: float) -> None:
        """Read (and answer CSMS CALLs) until the monotonic time `until`."""
        until = min(until, self.deadline)
        while (remaining := until - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    await self._recv(ws)
            except TimeoutError:
                return

    # --- the charger's script ----------------------------------------------------------------

    async def _boot(self, ws: ClientConnection) -> bool:
        """BootNotification until Accepted; Pending/Rejected wait the interval plus jitter."""
        payload = payloads.boot(self.proto, self.station, vendor="Swarm")
        while time.monotonic() < self.deadline:
            answer = await self.call(ws, "BootNotification", payload)
            status = answer.get("status") if isinstance(answer, dict) else None
            if status == "Accepted":
                self.stats.boots_accepted += 1
                self.stats.last_boot_ts = time.time()
                return True
            if status == "Pending":
                self.stats.boots_pending += 1
            elif status == "Rejected":
                self.stats.boots_rejected += 1
            # No answer (CALLERROR, timeout): retry in 10 s; never faster than once a second.
            interval = float(answer.get("interval", 10)) if isinstance(answer, dict) else 10.0
            wait = max(interval, 1.0) * random.uniform(1.0, 1.5)
            await self.idle_until(ws, time.monotonic() + wait)
        return False

    async def _status(self, ws: ClientConnection, state: str) -> None:
        """`state` in the 1.6 vocabulary; 2.x stations say Occupied for a session's states."""
        await self.call(ws, "StatusNotification", payloads.status(self.proto, state))

    async def _start(self, ws: ClientConnection) -> None:
        self.tx.seq_no = 0
        if self.v201:
            await self._status(ws, "Preparing")
            self.tx.transaction_id = f"{self.station}-{int(time.time() * 1000)}"
            await self.call(ws, *payloads.start(self.proto, self.tx))
        else:
            answer = await self.call(ws, *payloads.start(self.proto, self.tx))
            tx16 = int(answer.get("transactionId", 0)) if isinstance(answer, dict) else 0
            self.tx.transaction_id = str(tx16)
            await self._status(ws, "Charging")
        self.charging = True

    async def _meter(self, ws: ClientConnection) -> None:
        self.tx.meter_wh += 90
        await self.call(ws, *payloads.meter(self.proto, self.tx))

    async def _stop(self, ws: ClientConnection) -> None:
        await self.call(ws, *payloads.stop(self.proto, self.tx))
        await self._status(ws, "Available")
        self.charging = False

    async def _live(self, ws: ClientConnection) -> None:
        """Heartbeats, and sessions with periodic meter values, until the deadline."""
        cfg = self.cfg
        await self._status(ws, "Available")
        now = time.monotonic()
        # Random phases, so that chargers started together do not act in lock-step.
        next_hb = now + random.uniform(0, cfg.heartbeat_s)
        cycle = cfg.session_s + cfg.idle_s
        phase = random.uniform(0, cycle)
        next_change = now + (cycle - phase if phase >= cfg.idle_s else cfg.idle_s - phase)
        start_charging = phase >= cfg.idle_s and cfg.session_s > 0
        next_meter = now + random.uniform(0, cfg.meter_s)
        if start_charging:
            await self._start(ws)
        while time.monotonic() < self.deadline:
            due = min(next_hb, next_change, next_meter if self.charging else float("inf"))
            await self.idle_until(ws, due)
            now = time.monotonic()
            if now >= self.deadline:
                return
            if now + _PERIODIC_EPS >= next_hb:
                await self.call(ws, "Heartbeat", {})
                next_hb = now + cfg.heartbeat_s
            if now + _PERIODIC_EPS >= next_change and cycle > 0:
                if self.charging:
                    await self._stop(ws)
                    next_change = now + cfg.idle_s
                elif cfg.session_s > 0:
                    await self._start(ws)
                    next_meter = now + cfg.meter_s
                    next_change = now + cfg.session_s
                else:
                    next_change = float("inf")
            elif self.charging and now + _PERIODIC_EPS >= next_meter:
                await self._meter(ws)
                next_meter = now + cfg.meter_s


def is_201(index: int, ratio: float) -> bool:
    """Deterministic protocol mix: the same index speaks the same version in every run."""
    return (index * 2654435761 % 10007) / 10007 < ratio


def _backoff(failures: int, cfg: SwarmConfig) -> float:
    """Exponential backoff with full jitter (0.5x-1.5x), capped."""
    base = min(cfg.backoff_max_s, cfg.backoff_min_s * 2.0 ** max(failures - 1, 0))
    return float(base * random.uniform(0.5, 1.5))
