"""A fleet of resilient OCPP charge points (the `ocpp` package's ChargePoint over real
WebSockets) that charge in a loop and survive whatever the CSMS goes through.

Each charger behaves as firmware must: it reconnects with a jittered, doubling backoff when the
connection drops, boots again, and **retries every transaction message until it is answered**
(OCPP 1.6 §4.7 / 2.0.1 E04: transaction-related messages are queued and delivered). A CALL
without an answer within `response_timeout_s`, or whose connection died, is sent again on the
next connection. So a fault in the CSMS may delay a session but must never lose it; the fleet
records what each charger believes, for a checker to compare with what the CSMS recorded:

* `sessions`: every session the charger finished (its stop was answered), with its meter start
  and stop - the energy the network model and the bill must show;
* `answered`: (station, message id, action) of every CALL that got a CALLRESULT - each must be
  in Kafka exactly once (a CALLRESULT promises durability).

1.6 sessions: StatusNotification Preparing, StartTransaction (the CSMS's transactionId),
Charging, MeterValues, StopTransaction, Available. 2.0.1: TransactionEvent Started / Updated /
Ended with the station's own transaction id, StatusNotification around them. Station clocks are
real time; meter values come every `interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.exceptions import OCPPError
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201


@dataclass(frozen=True)
class FleetSession:
    station: str
    proto: str
    transaction_id: str
    meter_start_wh: int
    meter_stop_wh: int
    finished_s: float = 0.0  # time.monotonic() when its stop was answered

    @property
    def energy_wh(self) -> int:
        return self.meter_stop_wh - self.meter_start_wh


@dataclass
class FleetRecord:
    """What the chargers believe happened (appended to as they go)."""

    sessions: list[FleetSession] = field(default_factory=list)
    answered: list[tuple[str, str, str]] = field(default_factory=list)
    last_ok: dict[str, float] = field(default_factory=dict)  # station -> last answer (monotonic)
    connects: int = 0  # successful (re)connections, boots included
    retries: int = 0  # CALLs sent again after a failure
    # Seconds from sending each answered CALL to its answer; a sampler (the soak) drains it.
    latencies_s: list[float] = field(default_factory=list)


class _Lost(Exception):
    """The connection died, the CALL got no answer in time, or a CALLERROR instead of an answer
    (the CSMS could not make it durable, e.g. Kafka down: InternalError): reconnect and send
    again, as firmware retries a transaction message (1.6 §4.7, 2.0.1 E04). Before, a CALLERROR
    escaped and ended the charger's loop: a charger silenced by the fault it was to survive."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Link:
    """One live connection: the ChargePoint and the task reading its socket."""

    def __init__(self, ws: Any, cp: Any) -> None:
        self.ws, self.cp = ws, cp
        self.reader = asyncio.create_task(cp.start())

    async def call(self, payload: Any, uid: str) -> Any:
        call = asyncio.create_task(self.cp.call(payload, unique_id=uid, suppress=False))
        done, _ = await asyncio.wait({call, self.reader}, return_when=asyncio.FIRST_COMPLETED)
        if call not in done:  # the reader ended: the connection is gone
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            raise _Lost("connection closed")
        try:
            return call.result()
        except (TimeoutError, websockets.ConnectionClosed, OCPPError) as exc:
            raise _Lost(repr(exc)) from exc

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader
        with contextlib.suppress(Exception):
            await self.ws.close()


class FleetCharger:
    def __init__(
        self,
        url: str,
        station: str,
        proto: str,
        record: FleetRecord,
        *,
        interval_s: float = 1.0,
        meter_values: int = 3,
        response_timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url, self.station, self.proto = url.rstrip("/"), station, proto
        self.record = record
        self.interval_s = interval_s
        self.meter_values = meter_values
        self.response_timeout_s = response_timeout_s
        self.rng = rng or random.Random(station)
        self.register_wh = self.rng.randrange(1_000, 5_000_000)
        self.connected = asyncio.Event()
        self._link: _Link | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Charge session after session until `stop`; the session going on is finished first."""
        try:
            while not stop.is_set():
                await self._session()
                await self._sleep(stop, self.interval_s)
        finally:
            if self._link is not None:
                await self._link.close()

    # -- sessions ---------------------------------------------------------------------------

    async def _session(self) -> None:
        if self.proto == "ocpp1.6":
            await self._session16()
        else:
            await self._session2x()

    async def _session16(self) -> None:
        tag = f"TAG-{self.station}"
        await self._call(self._status16("Preparing"))
        start_wh = self.register_wh
        started = await self._call(
            call16.StartTransaction(
                connector_id=1, id_tag=tag, meter_start=start_wh, timestamp=_now()
            )
        )
        tx = started.transaction_id
        await self._call(self._status16("Charging"))
        for _ in range(self.meter_values):
            await asyncio.sleep(self.interval_s)
            self.register_wh += self.rng.randrange(50, 800)
            sample = {"value": str(self.register_wh), "measurand": "Energy.Active.Import.Register"}
            value = [{"timestamp": _now(), "sampledValue": [sample]}]
            await self._call(
                call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=value)
            )
        self.register_wh += self.rng.randrange(0, 300)
        await self._call(
            call16.StopTransaction(
                meter_stop=self.register_wh, timestamp=_now(), transaction_id=tx, reason="Local"
            )
        )
        self._finished(str(tx), start_wh)
        await self._call(self._status16("Available"))

    async def _session2x(self) -> None:
        tx = f"{self.station}-{uuid.uuid4().hex[:10]}"
        start_wh = self.register_wh
        await self._call(self._status2x("Occupied"))
        events = ["Started", *["Updated"] * self.meter_values, "Ended"]
        for seq_no, kind in enumerate(events):
            if kind != "Started":
                await asyncio.sleep(self.interval_s)
                self.register_wh += self.rng.randrange(50, 800)
            await self._call(self._event2x(kind, tx, seq_no))
        self._finished(tx, start_wh)
        await self._call(self._status2x("Available"))

    def _finished(self, tx: str, start_wh: int) -> None:
        self.record.sessions.append(
            FleetSession(self.station, self.proto, tx, start_wh, self.register_wh, time.monotonic())
        )

    def _status16(self, status: str) -> Any:
        return call16.StatusNotification(
            connector_id=1, error_code="NoError", status=status, timestamp=_now()
        )

    def _status2x(self, status: str) -> Any:
        return call201.StatusNotification(
            timestamp=_now(), connector_status=status, evse_id=1, connector_id=1
        )

    def _event2x(self, kind: str, tx: str, seq_no: int) -> Any:
        sample = {
            "value": self.register_wh,
            "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": {"unit": "Wh"},
        }
        extra: dict[str, Any] = {}
        if kind == "Started":
            extra = {
                "evse": {"id": 1, "connector_id": 1},
                "id_token": {"id_token": f"TAG-{self.station}", "type": "ISO14443"},
            }
        info: dict[str, Any] = {"transaction_id": tx, "charging_state": "Charging"}
        if kind == "Ended":
            info = {
                "transaction_id": tx,
                "charging_state": "EVConnected",
                "stopped_reason": "Local",
            }
        trigger = {"Started": "Authorized", "Ended": "StopAuthorized"}.get(
            kind, "MeterValuePeriodic"
        )
        return call201.TransactionEvent(
            event_type=kind,
            timestamp=_now(),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction_info=info,
            meter_value=[{"timestamp": _now(), "sampled_value": [sample]}],
            **extra,
        )

    # -- delivery ---------------------------------------------------------------------------

    async def _call(self, payload: Any) -> Any:
        """Send until answered, over as many connections as it takes."""
        failures = 0
        while True:
            link = await self._connected()
            uid = uuid.uuid4().hex
            sent = time.monotonic()
            try:
                answer = await link.call(payload, uid)
            except _Lost:
                failures += 1
                self.record.retries += 1
                await self._drop()
                await asyncio.sleep(self._backoff(failures))
                continue
            self.record.answered.append((self.station, uid, type(payload).__name__))
            self.record.last_ok[self.station] = now = time.monotonic()
            self.record.latencies_s.append(now - sent)
            return answer

    async def _connected(self) -> _Link:
        failures = 0
        while self._link is None:
            try:
                self._link = await self._connect()
            except (OSError, websockets.WebSocketException, _Lost, TimeoutError):
                failures += 1
                await asyncio.sleep(self._backoff(failures))
        return self._link

    async def _connect(self) -> _Link:
        ws = await websockets.connect(
            f"{self.url}/{self.station}",
            subprotocols=[self.proto],  # type: ignore[list-item]
            open_timeout=10,
        )
        cls = {"ocpp1.6": ChargePoint16, "ocpp2.0.1": ChargePoint201}.get(self.proto, ChargePoint21)
        link = _Link(ws, cls(self.station, ws, response_timeout=self.response_timeout_s))
        try:
            await self._boot(link)
        except _Lost:
            await link.close()
            raise
        self.record.connects += 1
        self.connected.set()
        return link

    async def _boot(self, link: _Link) -> None:
        while True:
            uid = uuid.uuid4().hex
            if self.proto == "ocpp1.6":
                boot: Any = call16.BootNotification(
                    charge_point_model="Fleet-AC", charge_point_vendor="FleetVendor"
                )
            else:
                boot = call201.BootNotification(
                    charging_station={"model": "Fleet-DC", "vendor_name": "FleetVendor"},
                    reason="PowerUp",
                )
            answer = await link.call(boot, uid)
            self.record.answered.append((self.station, uid, "BootNotification"))
            if answer.status == "Accepted":
                return
            await asyncio.sleep(min(float(answer.interval), 5.0))  # Pending: as told, bounded

    async def _drop(self) -> None:
        self.connected.clear()
        if self._link is not None:
            await self._link.close()
            self._link = None

    def _backoff(self, failures: int) -> float:
        base = min(5.0, 0.25 * 2 ** min(failures, 6))
        return float(base * self.rng.uniform(0.5, 1.0))

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def make_fleet(
    url: str, size: int, record: FleetRecord, *, prefix: str = "FLEET", **options: Any
) -> list[FleetCharger]:
    """`size` chargers, alternating 1.6 and 2.0.1 (every fourth 2.x one speaks 2.1)."""
    protos = ["ocpp1.6", "ocpp2.0.1", "ocpp1.6", "ocpp2.1"]
    return [
        FleetCharger(url, f"{prefix}-{i:04d}", protos[i % len(protos)], record, **options)
        for i in range(size)
    ]


async def until_connected(fleet: list[FleetCharger], within_s: float) -> float:
    """Seconds until every charger has a live, booted connection (raises after `within_s`)."""
    start = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in fleet)), within_s)
    return time.monotonic() - start
