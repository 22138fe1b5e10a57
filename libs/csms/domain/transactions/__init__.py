"""The neutral Transaction, projected from the frames of every version as a fold.

Two pure steps, so the I/O (loading and saving state) stays at the edge:

1. `interpret(env)` turns one envelope into at most one fact:
   * `PendingStart` - a 1.6 StartTransaction CALL. Its transactionId only exists in the CSMS's
     CALLRESULT, so the edge keeps it (Redis `pending_call(station, conn, uid)`, with a TTL)
     until `StartConfirmed` - that CALLRESULT - arrives, or `PendingDropped` - a CALLERROR.
     `confirm(pending, confirmed)` then yields the update that creates the transaction.
   * `TxUpdate` - everything one frame says about one transaction (1.6 MeterValues with a
     transactionId and StopTransaction; 2.x TransactionEvent Started/Updated/Ended).
2. `apply(state, update)` folds an update into the transaction (`None` = not seen yet);
   `advance(state, update)` also tells the edge whether to save and publish (see there).

Idempotence by construction rather than by remembering event ids: every field of the fold is
a monotone merge - meter start/stop are the earliest/latest energy-register readings ordered
by (station timestamp, value), started_ms is the earliest event time, ended_ms and updated_ms
the latest, the state only moves active -> ended, and the first-known id token / EVSE / stop
reason are kept (they rarely differ between one transaction's frames; when they do, the first
applied wins). So Kafka redelivery or a full replay over an existing read model leaves the
state as it was, out-of-order offline messages give the meter readings and times of an
in-order pass, and an update that adds nothing is visible as `apply(s, u) == s`.
`last_event_id` and `revision` are bookkeeping for the edge, set by `advance`, not part of the
fold.

Energy comes from Energy.Active.Import.Register samples of the whole connector (no phase,
location Outlet) in Wh, kWh or MWh; energy_wh = meter_stop_wh - meter_start_wh by
csms.domain.energy.delivered_wh, the one definition the bill prices too (a register that wrapped
counts across the wrap, flag `meter_rollover`; one that went back otherwise counts 0, flag
`meter_decreased`).

The hard cases and how the fold meets them:
* Started offline: 2.x says so (`offline`); a 1.6 StartTransaction whose timestamp is more
  than OFFLINE_LAG_MS older than its arrival was queued offline. A 0 Wh start reading is no
  baseline when the transaction was offline or the first real reading is beyond any session
  (PLAUSIBLE_SESSION_WH): many stations write 0 for an unknown meter; the earliest positive
  sample is then the baseline (flag `baseline_from_first_sample`), never zero-to-lifetime.
* Out of order / late / in bulk: every merge is ordered by the station's clock; 2.x seqNos
  are kept as ranges, so gaps show (`missing_seq_nos`) and close when the late event comes.
* Duplicates and Kafka redelivery: the merges are idempotent.
* 1.6 StopTransaction for an unknown transaction creates it ended (flag `no_start`); a second,
  different stop of a stopped one is kept in `stops` (flag `stopped_twice`), the first reason
  wins.
* Remote starts: `remote_start_uid` is the message id of the CSMS's RemoteStartTransaction
  (1.6: matched by idTag and connector within REMOTE_START_TTL_S) or RequestStartTransaction
  (2.x: by remoteStartId, or the response's transactionId).
* Reboots: a BootNotification marks the station's active transactions (`boot_ms`); one that
  hears nothing more is closed by policy after the grace the CSMS configures.
* Zombies: the CSMS's policy closes a transaction nothing has been heard of for too long with a
  `policy` fact on `csms.policy` (reason in `policy_reason` and `stop_reason`); a real stop
  arriving later still wins for the reason and the end time.
"""

from __future__ import annotations

from csms.domain.transactions.facts import (
    ACTIVE,
    DEFAULT_STOP_REASON,
    ENDED,
    MAX_LISTED_GAPS,
    MAX_STATE_CHANGES,
    MAX_STOPS,
    OFFLINE_LAG_MS,
    PENDING_TTL_S,
    PLAUSIBLE_SESSION_WH,
    REMOTE_START_TTL_S,
    Fact,
    PendingDropped,
    PendingStart,
    Reading,
    RemoteStartSent,
    StartConfirmed,
    StationSignal,
    TxUpdate,
    tx_key,
)
from csms.domain.transactions.fold import Verdict, _add_seq, advance, apply
from csms.domain.transactions.interpretation import (
    CHARGING_STATE_16,
    confirm,
    energy_readings,
    interpret,
    remote_matches,
    remote_ref_16,
    signal_update,
    transaction_event_update,
)
from csms.domain.transactions.policy import POLICY_CLOSE, life_ms, policy_close, zombie_reason
from csms.domain.transactions.views import (
    charging_periods,
    closed_by,
    flags,
    missing_seq_nos,
    neutral_event,
    seq_seen,
    snapshot,
)

__all__ = [
    "ACTIVE",
    "CHARGING_STATE_16",
    "DEFAULT_STOP_REASON",
    "ENDED",
    "MAX_LISTED_GAPS",
    "MAX_STATE_CHANGES",
    "MAX_STOPS",
    "OFFLINE_LAG_MS",
    "PENDING_TTL_S",
    "PLAUSIBLE_SESSION_WH",
    "POLICY_CLOSE",
    "REMOTE_START_TTL_S",
    "Fact",
    "PendingDropped",
    "PendingStart",
    "Reading",
    "RemoteStartSent",
    "StartConfirmed",
    "StationSignal",
    "TxUpdate",
    "Verdict",
    "_add_seq",
    "advance",
    "apply",
    "charging_periods",
    "closed_by",
    "confirm",
    "energy_readings",
    "flags",
    "interpret",
    "life_ms",
    "missing_seq_nos",
    "neutral_event",
    "policy_close",
    "remote_matches",
    "remote_ref_16",
    "seq_seen",
    "signal_update",
    "snapshot",
    "transaction_event_update",
    "tx_key",
    "zombie_reason",
]
