"""OCPP 1.6 event inference: 2.0.1-style TransactionEvent trigger reasons from 1.6 frames (pure).

A 1.6 station only reports connector statuses (OCPP 1.6 §4.9 / §7.7 ChargePointStatus) and
Authorize / Start / Stop / MeterValues; a 2.0.1 station says *why* something happened
(2.0.1 E-chapters, TriggerReasonEnumType, ChargingStateEnumType). This module folds one 1.6
connector's frames into `InferredEvent`s that carry the 2.0.1 names, flagged `inferred=True`.

The fold is per (station, connector): `infer(state, frame) -> (state, events)`. Frames that
name no connector (Authorize, StopTransaction, CALLRESULTs, connect) are offered to every known
connector of the station; each one reacts only to what is its own (a pending uid, its
transaction id). `connector_of(frame)` tells the edge which case a frame is; the edge keeps
the set of connectors it has state for (a station reports every connector's status at boot,
1.6 §4.9), as `infer_all` does. The state is JSON-serializable (`to_dict` / `from_dict`) and
remembers the last SEEN_WINDOW frames it applied, so a duplicated frame (same connection,
direction, kind and OCPP uid; a Kafka redelivery or a station's retry) yields no second event.
Beyond that window the rules themselves are mostly idempotent: an event needs a state change.

Rules (prev = previous inferred state; "plugged" = cable inferred present):

| 1.6 input (spec)                   | condition                   | 2.0.1 trigger / state       |
|------------------------------------|-----------------------------|-----------------------------|
| Available -> Preparing (§4.9 A2)   | no authorization held       | CablePluggedIn / EVConnected|
| Available -> Preparing (§4.9 A2)   | Authorize accepted before,  | Authorized / Idle; the plug |
|                                    | or RemoteStart pending      | is decided later (E02)      |
| Preparing                          | preparing_means_plugged set | True: plug; False: no plug  |
| Authorize.conf Accepted (E03)      | plugged, no transaction     | Authorized                  |
| Authorize.conf Accepted            | not plugged                 | held for auth_hold_ms       |
| RemoteStartTransaction (CSMS)      | no transaction              | held for auth_hold_ms       |
| StartTransaction.conf              | cable not yet inferred      | CablePluggedIn / EVConnected|
| StartTransaction.conf              | authorization not reported  | Authorized, or RemoteStart  |
|                                    |                             | after RemoteStartTransaction|
| StartTransaction.conf (E05)        | idTagInfo not Accepted      | Deauthorized                |
| Charging/SuspendedEV/SuspendedEVSE | charging state differs      | ChargingStateChanged / it   |
|   (§4.9 C, D, E)                   | cable not yet inferred      | CablePluggedIn first        |
| SuspendedEV                        | suspended_ev_before_charging| EVDetected / SuspendedEV    |
|                                    | and never charged in the tx |                             |
| Finishing, finishing="stopped"     | plugged, not EVConnected    | ChargingStateChanged /      |
|   (§4.9 F)                         |                             |   EVConnected               |
| Finishing, finishing="unplugged"   | plugged                     | EVDeparted / Idle           |
| -> Available (E09; from Finishing, | plugged                     | EVDeparted / Idle           |
|   Charging, Suspended*: offline)   |                             |                             |
| Preparing -> Available             | authorized, never plugged   | EVConnectTimeout / Idle     |
| Faulted                            | previous status not Faulted | AbnormalCondition           |
| Unavailable, Reserved              |                             | none (no 2.0.1 trigger)     |
| StopTransaction Local (E06)        | also an absent reason       | StopAuthorized              |
| StopTransaction, no reason         | RemoteStopTransaction sent  | RemoteStop                  |
| StopTransaction Remote (F03)       |                             | RemoteStop                  |
| StopTransaction EVDisconnected     |                             | EVCommunicationLost / Idle  |
| StopTransaction DeAuthorized       |                             | Deauthorized                |
| StopTransaction Hard/SoftReset     |                             | ResetCommand                |
| StopTransaction UnlockCommand      |                             | UnlockCommand               |
| StopTransaction, unknown id        | not this connector's tx     | none (the tx projection's)  |
| StopTransaction EmergencyStop,     |                             | AbnormalCondition           |
|   PowerLoss, Reboot, Other         |                             |                             |
| MeterValues with transactionId     | meter_value_events          | MeterValueClock when every  |
|                                    |                             | sample is Sample.Clock, else|
|                                    |                             | MeterValuePeriodic          |

Stop reasons are a `Rules.stop_triggers` mapping, so a vendor can override any of them.
An event whose station timestamp lies more than `Rules.offline_skew_ms` before the current
connection's `connect` was queued while offline: it is flagged `offline=True` (as 2.0.1's
TransactionEvent.offline). 1.6 stations queue only transaction messages while offline, so an
offline gap usually shows as StopTransaction followed by a direct Charging -> Available.

Vendor rules: `Rules` holds the interpretation switches; `RulesRegistry` maps (vendor, model)
glob patterns (case-insensitive, first match wins) to Rules and is loadable from a dict.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from csms.domain.frames import as_dict, as_int, as_list, as_str, id_text, parse_ts
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

# 2.0.1 ChargingStateEnumType
CHARGING = "Charging"
EV_CONNECTED = "EVConnected"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
IDLE = "Idle"

# How many applied frames a connector remembers to drop duplicates (a station's retries and
# Kafka redeliveries arrive close to the original).
SEEN_WINDOW = 64

DEFAULT_STOP_TRIGGERS: Mapping[str, str] = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "DeAuthorized": "Deauthorized",
    "HardReset": "ResetCommand",
    "SoftReset": "ResetCommand",
    "UnlockCommand": "UnlockCommand",
    "EmergencyStop": "AbnormalCondition",
    "PowerLoss": "AbnormalCondition",
    "Reboot": "AbnormalCondition",
    "Other": "AbnormalCondition",
}

# The 1.6 statuses that name a 2.0.1 charging state one to one.
_ENERGY_STATES = {
    "Charging": CHARGING,
    "SuspendedEV": SUSPENDED_EV,
    "SuspendedEVSE": SUSPENDED_EVSE,
}

# Connector-addressed CALLs from the station, and CSMS commands that may name a connector.
_CONNECTOR_CALLS = frozenset({"StatusNotification", "StartTransaction", "MeterValues"})


@dataclass(frozen=True)
class Rules:
    """How one station model uses the 1.6 statuses (see the module table)."""

    # None: Preparing is a plug-in unless an authorization is held; True / False force it.
    preparing_means_plugged: bool | None = None
    # The station reports SuspendedEV between the start and the EV's first energy draw.
    suspended_ev_before_charging: bool = False
    # "stopped": Finishing = transaction stopped, cable still in (1.6 §4.9);
    # "unplugged": the station goes to Finishing when the cable is removed.
    finishing: Literal["stopped", "unplugged"] = "stopped"
    # How long an authorization waits for a plug-in (2.0.1 EVConnectionTimeOut).
    auth_hold_ms: int = 120_000
    offline_skew_ms: int = 60_000
    meter_value_events: bool = True
    stop_triggers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STOP_TRIGGERS))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base: Rules | None = None) -> Rules:
        """Rules from config; keys override `base` (stop_triggers are merged). Raises
        ValueError for an unknown key or a wrongly typed value: config errors fail loudly."""
        start = base if base is not None else cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown inference rule(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in d.items():
            current = getattr(start, name)
            if name == "stop_triggers":
                if not isinstance(value, Mapping) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in value.items()
                ):
                    raise ValueError("stop_triggers must map reason -> trigger")
                values[name] = {**current, **value}
            elif name == "preparing_means_plugged":
                if value is not None and not isinstance(value, bool):
                    raise ValueError(f"{name} must be true, false or null")
                values[name] = value
            elif name == "finishing":
                if value not in ("stopped", "unplugged"):
                    raise ValueError("finishing must be 'stopped' or 'unplugged'")
                values[name] = value
            elif type(value) is not type(current):
                raise ValueError(f"{name} must be {type(current).__name__}")
            else:
                values[name] = value
        return replace(start, **values)


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class RulesRegistry:
    """Rules per station model: (vendor glob, model glob, rules), first match wins."""

    default: Rules = DEFAULT_RULES
    entries: tuple[tuple[str, str, Rules], ...] = ()

    def rules_for(self, vendor: str, model: str) -> Rules:
        for vendor_glob, model_glob, rules in self.entries:
            if _match(vendor, vendor_glob) and _match(model, model_glob):
                return rules
        return self.default

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RulesRegistry:
        """{"default": {rule: value}, "models": [{"vendor": glob, "model": glob,
        "rules": {...}}]}; a model's rules override the default's."""
        default = Rules.from_dict(as_dict(d.get("default")))
        entries = []
        for item in as_list(d.get("models")):
            if not isinstance(item, Mapping):
                raise ValueError("each model entry must be an object")
            vendor, model = item.get("vendor", "*"), item.get("model", "*")
            if not isinstance(vendor, str) or not isinstance(model, str):
                raise ValueError("vendor and model must be glob strings")
            entries.append((vendor, model, Rules.from_dict(as_dict(item.get("rules")), default)))
        return cls(default=default, entries=tuple(entries))


def _match(value: str, glob: str) -> bool:
    return fnmatch.fnmatchcase(value.casefold(), glob.casefold())


@dataclass(frozen=True, slots=True)
class InferredEvent:
    """One 2.0.1-style transaction event inferred from 1.6 frames."""

    station: str
    connector_id: int  # the 1.6 connectorId
    evse_id: int  # neutral model: 1.6 connector N is EVSE N / connector 1
    ts_ms: int  # the station's clock when the frame has one, else the gateway's
    trigger_reason: str  # 2.0.1 TriggerReasonEnumType
    charging_state: str  # 2.0.1 ChargingStateEnumType, after this event
    transaction_id: str | None
    source_uid: str  # the OCPP message uid of the frame that revealed it
    source_event_id: str  # the envelope id
    id_token: str = ""
    offline: bool = False
    inferred: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """What the fold knows about one 1.6 connector. Plain JSON types only (lives in Redis)."""

    station: str
    connector_id: int
    status: str = ""  # the last 1.6 status
    charging_state: str = IDLE
    plugged: bool = False
    transaction_id: str = ""
    tx_charged: bool = False  # the open transaction has been Charging at least once
    # Authorization outside a transaction: "" none, "held" waiting for a plug-in, "reported".
    auth: str = ""
    auth_ms: int = 0
    auth_uid: str = ""  # a pending Authorize CALL
    auth_tag: str = ""
    remote_start: bool = False  # a RemoteStartTransaction awaits its StartTransaction
    remote_ms: int = 0
    remote_stop: bool = False
    start_uid: str = ""  # a pending StartTransaction CALL
    start_ms: int = 0
    start_tag: str = ""
    connected_ms: int = 0
    seen: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # Flat fields: no need for dataclasses.asdict's recursive copy (hot path).
        d = {name: getattr(self, name) for name in _STATE_FIELDS}
        d["seen"] = list(self.seen)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConnectorState:
        """Inverse of to_dict; unknown keys (a newer writer's fields) are ignored."""
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        values["seen"] = tuple(values.get("seen", ()))
        return cls(**values)


_STATE_FIELDS = tuple(f.name for f in fields(ConnectorState))


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


def infer_all(
    frames: Iterable[FrameEnvelope], rules: Rules | RulesRegistry = DEFAULT_RULES
) -> list[InferredEvent]:
    """Replay helper: fold a frame sequence of any stations in order. With a registry, each
    station's rules follow its latest 1.6 BootNotification (vendor, model)."""
    states: dict[tuple[str, int], ConnectorState] = {}
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
        cid = connector_of(frame)
        known = sorted(c for s, c in states if s == frame.station)
        targets = [cid] if cid is not None else known
        for target in targets:
            before = states.get((frame.station, target))
            after, new = infer(before, frame, connector_id=target, rules=active)
            if after.connector_id > 0:
                states[(frame.station, target)] = after
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


def event_record(event: InferredEvent) -> dict[str, Any]:
    """An inferred event as published on csms.transactions, in the neutral event shape of
    csms.domain.transactions.neutral_event (1.6 connector N = EVSE N / connector 1)."""
    return {
        "type": "event",
        "id": f"{event.source_event_id}/{event.connector_id}/{event.trigger_reason}",
        "station": event.station,
        "proto": OcppVersion.V16.value,
        "evse": event.evse_id,
        "connector": 1,
        "transaction_id": event.transaction_id or "",
        "event_type": "",
        "trigger_reason": event.trigger_reason,
        "charging_state": event.charging_state,
        "ts_ms": event.ts_ms,
        "seq_no": None,
        "offline": event.offline,
        "id_token": event.id_token,
        "inferred": True,
        "source_event_id": event.source_event_id,
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
