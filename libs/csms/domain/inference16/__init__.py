"""OCPP 1.6 event inference: 2.0.1-style TransactionEvent trigger reasons from 1.6 frames (pure).

A 1.6 station only reports connector statuses (OCPP 1.6 §4.9 / §7.7 ChargePointStatus) and
Authorize / Start / Stop / MeterValues; a 2.0.1 station says *why* something happened
(2.0.1 E-chapters, TriggerReasonEnumType, ChargingStateEnumType). This package folds one 1.6
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

from csms.domain.inference16.fold import (
    SEEN_WINDOW,
    boot_model,
    connector_of,
    infer,
    infer_all,
    infer_station,
    relevant,
)
from csms.domain.inference16.rules import (
    DEFAULT_RULES,
    DEFAULT_STOP_TRIGGERS,
    Rules,
    RulesRegistry,
)
from csms.domain.inference16.state import (
    CHARGING,
    EV_CONNECTED,
    IDLE,
    SUSPENDED_EV,
    SUSPENDED_EVSE,
    ConnectorState,
    InferredEvent,
    event_record,
)

__all__ = [
    "CHARGING",
    "DEFAULT_RULES",
    "DEFAULT_STOP_TRIGGERS",
    "EV_CONNECTED",
    "IDLE",
    "SEEN_WINDOW",
    "SUSPENDED_EV",
    "SUSPENDED_EVSE",
    "ConnectorState",
    "InferredEvent",
    "Rules",
    "RulesRegistry",
    "boot_model",
    "connector_of",
    "event_record",
    "infer",
    "infer_all",
    "infer_station",
    "relevant",
]
