"""The 1.6 inference fold: `infer` (one frame into one connector's state), `infer_station` (one
frame through a station's connectors: the one fan-out), `infer_all` (a frame sequence of any
stations), the frame routing (`connector_of`, `relevant`, `boot_model`) and the per-frame rules
of one connector (`_Step`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from csms.domain.frames import as_dict, as_int, as_list, as_str, id_text, parse_ts
from csms.domain.inference16.rules import DEFAULT_RULES, Rules, RulesRegistry
from csms.domain.inference16.state import (
    CHARGING,
    EV_CONNECTED,
    IDLE,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    ConnectorState,
    InferredEvent,
)
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

# How many applied frames a connector remembers to drop duplicates (a station's retries and
# Kafka redeliveries arrive close to the original).
SEEN_WINDOW = 64

# The 1.6 statuses that name a 2.0.1 charging state one to one.
_ENERGY_STATES = {
    "Charging": CHARGING,
    "SuspendedEV": SUSPENDED_EV,
    "SuspendedEVSE": SUSPENDED_EVSE,
}

# Connector-addressed CALLs from the station, and CSMS commands that may name a connector.
_CONNECTOR_CALLS = frozenset({"StatusNotification", "StartTransaction", "MeterValues"})


def connector_of(frame: FrameEnvelope) -> int | None:
    """The 1.6 connectorId a frame addresses; None = offer it to all the station's connectors."""
    msg = frame.ocpp_message()
    if frame.kind != "call" or msg is None or len(msg) < 4:
        return None
    action, payload = msg[2], as_dict(msg[3])
    if (frame.dir == "in" and action in _CONNECTOR_CALLS) or (
        frame.dir == "out" and action == "RemoteStartTransaction"
    ):
        return as_int(payload.get("connectorId"))
    return None


def infer(
    state: ConnectorState | None,
    frame: FrameEnvelope,
    *,
    connector_id: int | None = None,
    rules: Rules = DEFAULT_RULES,
) -> tuple[ConnectorState, list[InferredEvent]]:
    """Fold one envelope into one connector's state. `connector_id` names the connector when
    `state` is None (else the frame's own connectorId, else 0 = the station, which infers
    nothing). Never raises on odd payloads; frames of other versions change nothing."""
    cid = connector_id if connector_id is not None else state.connector_id if state else None
    if cid is None:
        cid = connector_of(frame) or 0
    st = state if state is not None else ConnectorState(station=frame.station, connector_id=cid)
    if frame.proto != OcppVersion.V16 or st.connector_id <= 0 or frame.err:
        return st, []
    addressed = connector_of(frame)
    if addressed is not None and addressed != st.connector_id:
        return st, []
    # Per connection: many 1.6 firmwares restart their uid counter after a reboot.
    key = f"{frame.conn}:{frame.dir}:{frame.kind}:{frame.uid or frame.id}"
    if key in st.seen:
        return st, []
    step = _Step(frame, rules)
    after = step.run(st)
    if after is None:
        return st, []
    return replace(after, seen=(*st.seen, key)[-SEEN_WINDOW:]), step.events


def infer_station(
    states: Mapping[int, ConnectorState], frame: FrameEnvelope, rules: Rules = DEFAULT_RULES
) -> tuple[list[ConnectorState], list[InferredEvent]]:
    """One frame of a station through its connectors' states (connectorId -> state): the
    connector the frame names, or every known one when it names none (1.6 §4.9). Returns the
    states it changed (connector 0, the station itself, is never kept) and the events it
    revealed. The one fan-out of the live step, the replay and `infer_all`."""
    target = connector_of(frame)
    targets = [target] if target is not None else sorted(states)
    changed: list[ConnectorState] = []
    events: list[InferredEvent] = []
    for cid in targets:
        before = states.get(cid)
        after, new = infer(before, frame, connector_id=cid, rules=rules)
        if after != before and after.connector_id > 0:
            changed.append(after)
        events.extend(new)
    return changed, events


def infer_all(
    frames: Iterable[FrameEnvelope], rules: Rules | RulesRegistry = DEFAULT_RULES
) -> list[InferredEvent]:
    """Replay helper: fold a frame sequence of any stations in order. With a registry, each
    station's rules follow its latest 1.6 BootNotification (vendor, model)."""
    states: dict[str, dict[int, ConnectorState]] = {}
    station_rules: dict[str, Rules] = {}
    events: list[InferredEvent] = []
    for frame in frames:
        if isinstance(rules, RulesRegistry):
            boot = boot_model(frame)
            if boot is not None:
                station_rules[frame.station] = rules.rules_for(*boot)
            active = station_rules.get(frame.station, rules.default)
        else:
            active = rules
        station = states.setdefault(frame.station, {})
        changed, new = infer_station(station, frame, active)
        station.update((state.connector_id, state) for state in changed)
        events.extend(new)
    return events


def boot_model(frame: FrameEnvelope) -> tuple[str, str] | None:
    """(vendor, model) of a 1.6 BootNotification CALL, else None."""
    msg = frame.ocpp_message()
    if frame.dir != "in" or frame.kind != "call" or msg is None or len(msg) < 4:
        return None
    if msg[2] != "BootNotification":
        return None
    payload = as_dict(msg[3])
    return as_str(payload.get("chargePointVendor")), as_str(payload.get("chargePointModel"))


class _Step:
    """One frame applied to one connector; collects the events it reveals."""

    def __init__(self, frame: FrameEnvelope, rules: Rules) -> None:
        self.frame = frame
        self.rules = rules
        self.events: list[InferredEvent] = []

    def run(self, st: ConnectorState) -> ConnectorState | None:
        """The new state, or None when this frame is none of this connector's business."""
        f = self.frame
        if f.kind == "connect":
            return replace(st, connected_ms=max(st.connected_ms, f.ts))
        msg = f.ocpp_message()
        if msg is None or len(msg) < 3:
            return None
        if f.kind == "call" and len(msg) >= 4 and isinstance(msg[2], str):
            handler = (_IN_CALLS if f.dir == "in" else _OUT_CALLS).get(msg[2])
            return None if handler is None else handler(self, st, as_dict(msg[3]))
        if f.dir == "out" and f.kind == "result" and f.action in _RESULTS:
            return _RESULTS[f.action](self, st, as_dict(msg[2]))
        if f.dir == "out" and f.kind == "error" and f.uid:
            if f.uid == st.start_uid:
                return replace(st, start_uid="", start_tag="")
            if f.uid == st.auth_uid:
                return replace(st, auth_uid="", auth_tag="")
        return None

    def emit(self, st: ConnectorState, ts_ms: int, trigger: str, *, id_token: str = "") -> None:
        offline = st.connected_ms > 0 and ts_ms < st.connected_ms - self.rules.offline_skew_ms
        self.events.append(
            InferredEvent(
                station=st.station,
                connector_id=st.connector_id,
                evse_id=st.connector_id,
                ts_ms=ts_ms,
                trigger_reason=trigger,
                charging_state=st.charging_state,
                transaction_id=st.transaction_id or None,
                source_uid=self.frame.uid,
                source_event_id=self.frame.id,
                id_token=id_token,
                offline=offline,
            )
        )

    def held(self, st: ConnectorState, ts_ms: int) -> bool:
        """An authorization waits for a plug-in and has not timed out."""
        return st.auth == "held" and ts_ms - st.auth_ms <= self.rules.auth_hold_ms

    def remote_pending(self, st: ConnectorState, ts_ms: int) -> bool:
        """A remote start (possibly offered to every connector) has not timed out."""
        return st.remote_start and ts_ms - st.remote_ms <= self.rules.auth_hold_ms

    # --- station CALLs -----------------------------------------------------------------

    def status(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState:
        status = as_str(p.get("status"))
        ts = parse_ts(p.get("timestamp"), self.frame.ts)
        if not status:
            return st
        if status == "Available":
            st = self._available(st, ts)
        elif status == "Preparing":
            st = self._preparing(st, ts)
        elif status in _ENERGY_STATES:
            st = self._energy(st, ts, status)
        elif status == "Finishing":
            st = self._finishing(st, ts)
        elif status == "Faulted" and st.status != "Faulted":
            self.emit(st, ts, "AbnormalCondition")
        return replace(st, status=status)

    def _available(self, st: ConnectorState, ts: int) -> ConnectorState:
        if st.plugged:
            st = replace(st, plugged=False, charging_state=IDLE)
            self.emit(st, ts, "EVDeparted")
        elif (
            (st.auth or self.remote_pending(st, ts))
            and not st.transaction_id
            and (st.status == "Preparing")
        ):
            st = replace(st, charging_state=IDLE)
            self.emit(st, ts, "EVConnectTimeout", id_token=st.auth_tag)
        return replace(st, charging_state=IDLE, auth="", auth_tag="", remote_start=False)

    def _preparing(self, st: ConnectorState, ts: int) -> ConnectorState:
        if st.plugged or st.transaction_id:
            return st
        held = self.held(st, ts)
        plug = self.rules.preparing_means_plugged
        if plug is None:
            plug = not (held or self.remote_pending(st, ts))
        if held:
            st = replace(st, auth="reported")
            self.emit(st, ts, "Authorized", id_token=st.auth_tag)
        if plug:
            st = replace(st, plugged=True, charging_state=EV_CONNECTED)
            self.emit(st, ts, "CablePluggedIn")
        return st

    def _energy(self, st: ConnectorState, ts: int, status: str) -> ConnectorState:
        if not st.plugged:
            st = replace(st, plugged=True, charging_state=EV_CONNECTED)
            self.emit(st, ts, "CablePluggedIn")
        new = _ENERGY_STATES[status]
        if new != st.charging_state:
            trigger = "ChargingStateChanged"
            if (
                new == SUSPENDED_EV
                and self.rules.suspended_ev_before_charging
                and not st.tx_charged
            ):
                trigger = "EVDetected"
            st = replace(st, charging_state=new)
            self.emit(st, ts, trigger)
        return replace(st, tx_charged=st.tx_charged or new == CHARGING)

    def _finishing(self, st: ConnectorState, ts: int) -> ConnectorState:
        if self.rules.finishing == "unplugged":
            if st.plugged:
                st = replace(st, plugged=False, charging_state=IDLE)
                self.emit(st, ts, "EVDeparted")
            return st
        if st.plugged and st.charging_state != EV_CONNECTED:
            st = replace(st, charging_state=EV_CONNECTED)
            self.emit(st, ts, "ChargingStateChanged")
        return st

    def authorize(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState:
        return replace(st, auth_uid=self.frame.uid, auth_tag=as_str(p.get("idTag")))

    def start(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState:
        ts = parse_ts(p.get("timestamp"), self.frame.ts)
        return replace(st, start_uid=self.frame.uid, start_ms=ts, start_tag=as_str(p.get("idTag")))

    def stop(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState | None:
        transaction_id = id_text(p.get("transactionId"))
        if not transaction_id or transaction_id != st.transaction_id:
            return None
        ts = parse_ts(p.get("timestamp"), self.frame.ts)
        reason = as_str(p.get("reason"))
        if not reason and st.remote_stop:
            trigger = "RemoteStop"  # a station that omits the reason after a remote stop
        else:
            trigger = self.rules.stop_triggers.get(reason or "Local", "AbnormalCondition")
        plugged = st.plugged and reason != "EVDisconnected"
        st = replace(
            st,
            plugged=plugged,
            charging_state=EV_CONNECTED if plugged else IDLE,
        )
        self.emit(st, ts, trigger, id_token=as_str(p.get("idTag")))
        return replace(
            st,
            transaction_id="",
            tx_charged=False,
            auth="",
            auth_tag="",
            remote_start=False,
            remote_stop=False,
        )

    def meter_values(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState | None:
        transaction_id = id_text(p.get("transactionId"))
        if not transaction_id or not self.rules.meter_value_events:
            return None
        if not st.transaction_id:
            # The StartTransaction result was lost (or predates this state): adopt the id.
            st = replace(st, transaction_id=transaction_id)
        elif st.transaction_id != transaction_id:
            return None
        values = [as_dict(v) for v in as_list(p.get("meterValue"))]
        samples = [as_dict(s) for v in values for s in as_list(v.get("sampledValue"))]
        contexts = {as_str(s.get("context"), "Sample.Periodic") for s in samples}
        trigger = "MeterValueClock" if contexts == {"Sample.Clock"} else "MeterValuePeriodic"
        times = [parse_ts(v.get("timestamp"), self.frame.ts) for v in values]
        self.emit(st, min(times, default=self.frame.ts), trigger)
        return st

    # --- CSMS commands and results -----------------------------------------------------

    def remote_start(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState | None:
        if st.transaction_id:
            return None
        tag = as_str(p.get("idTag"))
        return replace(st, remote_start=True, remote_ms=self.frame.ts, auth_tag=tag)

    def remote_stop(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState | None:
        transaction_id = id_text(p.get("transactionId"))
        if not transaction_id or transaction_id != st.transaction_id:
            return None
        return replace(st, remote_stop=True)

    def authorize_result(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState | None:
        if not self.frame.uid or self.frame.uid != st.auth_uid:
            return None
        st = replace(st, auth_uid="")
        accepted = as_str(as_dict(p.get("idTagInfo")).get("status")) == "Accepted"
        if not accepted or st.transaction_id:
            # During a transaction an Authorize is the stop request; StopTransaction reports it.
            return st
        if st.plugged:
            st = replace(st, auth="reported", auth_ms=self.frame.ts)
            self.emit(st, self.frame.ts, "Authorized", id_token=st.auth_tag)
            return st
        return replace(st, auth="held", auth_ms=self.frame.ts)

    def start_result(self, st: ConnectorState, p: dict[str, Any]) -> ConnectorState | None:
        if not self.frame.uid or self.frame.uid != st.start_uid:
            return None
        transaction_id = id_text(p.get("transactionId"))
        if not transaction_id:
            return None
        ts, tag = st.start_ms, st.start_tag
        st = replace(st, transaction_id=transaction_id, start_uid="", start_tag="")
        st = replace(st, tx_charged=st.charging_state == CHARGING)
        if not st.plugged:
            st = replace(st, plugged=True, charging_state=EV_CONNECTED)
            self.emit(st, ts, "CablePluggedIn")
        if st.auth != "reported":
            remote = self.remote_pending(st, ts)
            self.emit(st, ts, "RemoteStart" if remote else "Authorized", id_token=tag)
        st = replace(st, auth="reported", auth_tag=tag, remote_start=False)
        if as_str(as_dict(p.get("idTagInfo")).get("status")) != "Accepted":
            self.emit(st, ts, "Deauthorized", id_token=tag)
        return st


_Handler = Callable[[_Step, ConnectorState, dict[str, Any]], ConnectorState | None]

_IN_CALLS: dict[str, _Handler] = {
    "StatusNotification": _Step.status,
    "Authorize": _Step.authorize,
    "StartTransaction": _Step.start,
    "StopTransaction": _Step.stop,
    "MeterValues": _Step.meter_values,
}
_OUT_CALLS: dict[str, _Handler] = {
    "RemoteStartTransaction": _Step.remote_start,
    "RemoteStopTransaction": _Step.remote_stop,
}
_RESULTS: dict[str, _Handler] = {
    "Authorize": _Step.authorize_result,
    "StartTransaction": _Step.start_result,
}


def relevant(frame: FrameEnvelope) -> bool:
    """Whether the fold may react to this envelope at all (cheap, before loading any state):
    a connect, a BootNotification, or a frame some rule reads. Heartbeats, DataTransfer and the
    station's answers to other CSMS calls are not."""
    if frame.proto != OcppVersion.V16 or frame.err:
        return False
    if frame.kind == "connect":
        return True
    if frame.kind == "call":
        table = _IN_CALLS if frame.dir == "in" else _OUT_CALLS
        return frame.action in table or (frame.dir == "in" and frame.action == "BootNotification")
    return frame.dir == "out" and frame.kind in ("result", "error") and frame.action in _RESULTS
