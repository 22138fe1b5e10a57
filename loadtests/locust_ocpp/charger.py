"""The behaviour of one simulated charger, independent of Locust and of the socket library.

connect -> BootNotification (Pending/Rejected: retry after the interval the CSMS gave) ->
Accepted: heartbeat at the interval, StatusNotification Available, then forever: authorize,
Preparing, start, Charging, meter values every interval, stop, Available, idle. CSMS calls are
answered at once by the receive side; their effects (remote start/stop, reset, triggered
messages) are picked up by the main loop, which never blocks on more than one call at a time.
A lost connection means reconnecting with exponential backoff and jitter.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from loadtests import ocpp_payloads as m
from loadtests.locust_ocpp import answers as a
from loadtests.locust_ocpp.answers import CallErrorAnswer
from loadtests.locust_ocpp.transport import (
    CallFailed,
    CallHandler,
    CallTimeout,
    ConnectionLost,
    Reporter,
)
from loadtests.ocpp_payloads import Payload, Tx

STORM_TYPE = "STORM"
REBOOT_NAME = "reboot-after-drop"

# Every charger alive in this process: the storm message drops them all at once.
LIVE: weakref.WeakSet[Charger] = weakref.WeakSet()


class Link(Protocol):
    on_call: CallHandler
    on_lost: Callable[[], None]

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None: ...

    def call(self, action: str, payload: Payload) -> Payload: ...

    def close(self) -> None: ...


class Task(Protocol):
    def kill(self, block: bool = ...) -> Any: ...


class Runtime(Protocol):
    """Time and concurrency, so the state machine runs under gevent or a fake clock."""

    def now(self) -> float: ...

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early when woken."""

    def wake(self) -> None: ...

    def sleep(self, seconds: float) -> None:
        """Sleep, not woken by `wake` (the heartbeat's own timer)."""

    def spawn(self, fn: Callable[[], None]) -> Task: ...

    def random(self) -> float: ...


@dataclass(frozen=True)
class ChargerConfig:
    station: str
    proto: str
    meter_interval_s: float = 60.0
    heartbeat_s: float | None = None  # None: the interval the CSMS gave at boot
    session_s: float = 600.0
    idle_s: float = 60.0
    id_tag: str = "LOCUST-TAG"
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    power_w: int = 7400


class _Reset(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def backoff_delay(attempt: int, initial_s: float, max_s: float, rnd: float) -> float:
    """Exponential backoff with jitter: between half and all of min(max, initial * 2^attempt)."""
    base = min(max_s, initial_s * (2.0**attempt))
    return base * (0.5 + rnd / 2)


class Charger:
    def __init__(
        self, config: ChargerConfig, link: Link, runtime: Runtime, report: Reporter
    ) -> None:
        self.config = config
        self.proto = config.proto
        self.link = link
        self.rt = runtime
        self.report = report
        self.tx: Tx | None = None
        self.meter_wh = 1000
        self.accepted = False
        self.heartbeat_s = 300.0
        self.boots = 0
        self.sessions = 0
        self._remote_start: tuple[str, int | None] | None = None
        self._remote_stop = False
        self._reset: str | None = None
        self._triggers: list[str] = []
        self._dropped_at: float | None = None
        self._heartbeat: Task | None = None
        self._tx_counter = 0
        link.on_call = self.on_call
        link.on_lost = runtime.wake
        LIVE.add(self)

    # --- main loop ------------------------------------------------------------------------

    def run(self, rounds: int | None = None) -> None:
        """Connect, boot, operate; reconnect when the connection goes. `rounds` bounds the
        number of connections (tests); None runs until the greenlet is killed."""
        attempt = 0
        reason = "PowerUp"
        done = 0
        while rounds is None or done < rounds:
            done += 1
            try:
                self.link.connect()
            except Exception:  # reported by the link; back off and retry
                self.rt.sleep(self._backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            try:
                self.boot(reason)
                reason = "PowerUp"
                self.operate()
            except _Reset:
                reason = "RemoteReset"
                self.link.close()
                continue  # a reset charger comes back at once
            except (ConnectionLost, CallTimeout, CallFailed):
                pass
            finally:
                self._stop_heartbeat()
                self.accepted = False
            self.link.close()
            self.rt.sleep(self._backoff(attempt))
            attempt += 1

    def stop(self) -> None:
        """End of test: close without reporting what was in flight."""
        self._stop_heartbeat()
        self.link.close()
        LIVE.discard(self)

    def drop(self) -> None:
        """Reconnect storm: lose the connection now, time how long the re-boot takes."""
        self._dropped_at = self.rt.now()
        self.link.close()
        self.rt.wake()

    def _backoff(self, attempt: int) -> float:
        c = self.config
        return backoff_delay(attempt, c.backoff_initial_s, c.backoff_max_s, self.rt.random())

    def boot(self, reason: str = "PowerUp") -> None:
        """BootNotification until Accepted, waiting the interval the CSMS asks for in between."""
        while True:
            answer = self.link.call(
                "BootNotification", m.boot(self.proto, self.config.station, reason)
            )
            interval = float(answer.get("interval") or 0)
            if answer.get("status") == "Accepted":
                break
            self._pause(interval if interval > 0 else 10.0, boot_phase=True)
        self.accepted = True
        self.boots += 1
        self.heartbeat_s = self.config.heartbeat_s or (interval if interval > 0 else 300.0)
        if self._dropped_at is not None:
            elapsed_ms = (self.rt.now() - self._dropped_at) * 1000.0
            self.report(STORM_TYPE, REBOOT_NAME, elapsed_ms, 0, None)
            self._dropped_at = None

    def operate(self) -> None:
        self._start_heartbeat()
        if self.tx is not None:
            # The connection dropped mid-session: close it rather than leave a zombie behind.
            self._end(self.tx, "Other")
        else:
            self.link.call("StatusNotification", m.status(self.proto, "Available"))
        while True:
            self.session()
            self._pause(self.config.idle_s, until=lambda: self._remote_start is not None)

    # --- a charging session ---------------------------------------------------------------

    def session(self) -> None:
        remote = self._remote_start
        self._remote_start = None
        id_tag, remote_id = remote if remote else (self.config.id_tag, None)
        if remote is None:
            answer = self.link.call("Authorize", m.authorize(self.proto, id_tag))
            if m.id_tag_status(self.proto, answer) != "Accepted":
                return
        self.link.call("StatusNotification", m.status(self.proto, "Preparing"))
        tx = Tx(id_tag=id_tag, meter_wh=self.meter_wh, remote_start_id=remote_id)
        self._tx_counter += 1
        tx.transaction_id = f"{self.config.station}-{self.boots}-{self._tx_counter}"
        action, payload = m.start(self.proto, tx)
        answer = self.link.call(action, payload)
        if m.is_v16(self.proto):
            tx.transaction_id = str(answer["transactionId"])
        self.tx = tx
        self._remote_stop = False
        self.sessions += 1
        reason = "Local"
        if m.is_v16(self.proto) and m.id_tag_status(self.proto, answer) != "Accepted":
            reason = "DeAuthorized"
        else:
            self.link.call("StatusNotification", m.status(self.proto, "Charging"))
            reason = self._charge(tx)
        self._end(tx, reason)

    def _charge(self, tx: Tx) -> str:
        """Meter values every interval until the session's time is up or the CSMS stops it."""
        c = self.config
        ends = self.rt.now() + c.session_s
        while self.rt.now() < ends:
            step = min(c.meter_interval_s, ends - self.rt.now())
            self._pause(step, until=lambda: self._remote_stop)
            if self._remote_stop:
                return "Remote"
            tx.meter_wh += round(c.power_w * step / 3600)
            action, payload = m.meter(self.proto, tx)
            self.link.call(action, payload)
        return "Local"

    def _end(self, tx: Tx, reason: str) -> None:
        self.meter_wh = tx.meter_wh
        if m.is_v16(self.proto):
            self.link.call("StatusNotification", m.status(self.proto, "Finishing"))
        action, payload = m.stop(self.proto, tx, reason)
        self.link.call(action, payload)
        self.tx = None
        self.link.call("StatusNotification", m.status(self.proto, "Available"))

    # --- waiting, and what the CSMS asked for meanwhile -----------------------------------

    def _pause(
        self, seconds: float, *, until: Callable[[], bool] | None = None, boot_phase: bool = False
    ) -> None:
        deadline = self.rt.now() + seconds
        while True:
            self._service(boot_phase)
            if until is not None and until():
                return
            remaining = deadline - self.rt.now()
            if remaining <= 0:
                return
            self.rt.wait(remaining)

    def _service(self, boot_phase: bool) -> None:
        if not self.link.connected:
            raise ConnectionLost("connection closed")
        if self._reset is not None:
            kind, self._reset = self._reset, None
            if self.tx is not None:
                self._end(self.tx, kind)
            raise _Reset(kind)
        while self._triggers and not boot_phase:
            self._send_triggered(self._triggers.pop(0))

    def _send_triggered(self, message: str) -> None:
        if message == "BootNotification":
            self.link.call(message, m.boot(self.proto, self.config.station, "Triggered"))
        elif message == "Heartbeat":
            self.link.call(message, m.heartbeat(self.proto))
        elif message == "StatusNotification":
            state = "Charging" if self.tx else "Available"
            self.link.call(message, m.status(self.proto, state))
        elif message == "MeterValues" and self.tx is not None:
            action, payload = m.meter(self.proto, self.tx)
            self.link.call(action, payload)

    def on_call(self, action: str, payload: Payload) -> Payload | CallErrorAnswer:
        """Answer a CSMS CALL at once (receive side); effects wait for the main loop."""
        answer = a.answer(self.proto, action, payload)
        if isinstance(answer, CallErrorAnswer):
            return answer
        if action in ("RemoteStartTransaction", "RequestStartTransaction"):
            if self.tx is not None or self._remote_start is not None or not self.accepted:
                return {"status": "Rejected"}
            if m.is_v16(self.proto):
                self._remote_start = (str(payload["idTag"]), None)
            else:
                token = str(payload["idToken"]["idToken"])
                self._remote_start = (token, int(payload["remoteStartId"]))
        elif action in ("RemoteStopTransaction", "RequestStopTransaction"):
            wanted = str(payload.get("transactionId", ""))
            if self.tx is None or wanted != self.tx.transaction_id:
                return {"status": "Rejected"}
            self._remote_stop = True
        elif action == "Reset":
            kind = str(payload.get("type", "Hard"))
            self._reset = {"Soft": "SoftReset", "OnIdle": "SoftReset"}.get(kind, "HardReset")
        elif action == "TriggerMessage" and answer.get("status") == "Accepted":
            self._triggers.append(str(payload["requestedMessage"]))
        self.rt.wake()
        return answer

    # --- heartbeat ------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self._stop_heartbeat()
        self._heartbeat = self.rt.spawn(self._beat)

    def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.kill(block=False)

    def _beat(self) -> None:
        with contextlib.suppress(ConnectionLost, CallTimeout, CallFailed):
            while self.link.connected:
                self.rt.sleep(self.heartbeat_s)
                self.link.call("Heartbeat", m.heartbeat(self.proto))
