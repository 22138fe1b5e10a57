"""The transaction projection's hard cases, each from a generated frame corpus fed
through the real edge (`project_transaction`, in-memory stores) and the zombie policy."""

from __future__ import annotations

import itertools
import random

import orjson
import pytest

from csms.domain import transactions as txp
from csms.domain.model import Transaction
from csms.envelope import FrameEnvelope, decode
from csms.projections.pipeline import Processors, ZombiePolicy
from csms.projections.transactions import TxProjected, project_transaction
from csms.settings import Topics
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    meter_values16,
    mv16,
    mv201,
    start16,
    start16_result,
    status16,
    stop16,
    sv16,
    sv201,
    transaction_event,
)
from tests.unit.processors.fakes import (
    MemoryDeviceModelStore,
    MemoryInferenceStore,
    MemoryStationStore,
    MemoryTransactionStore,
)

MIN = 60_000
HOUR = 60 * MIN


async def feed(store: MemoryTransactionStore, *envs: FrameEnvelope) -> list[TxProjected]:
    return [await project_transaction(env, store) for env in envs]


def only(store: MemoryTransactionStore) -> Transaction:
    assert len(store.txs) == 1
    return next(iter(store.txs.values()))


def start_16(
    s: Session, tx_id: int, *, meter: int, ts: int, tag: str = "TAG-1"
) -> list[FrameEnvelope]:
    call = s.call("StartTransaction", start16(1, tag, meter, ts))
    return [call, s.result(call, start16_result(tx_id))]


def te(s: Session, event: str, seq: int, ts: int, **kw: object) -> FrameEnvelope:
    return s.call("TransactionEvent", transaction_event(event, "tx-1", seq, ts, **kw))  # type: ignore[arg-type]


def energy(ts: int, wh: float) -> list[dict[str, object]]:
    return [mv201(ts, sv201(wh, unit="Wh"))]


# --- started offline: the baseline is the first sample, never zero-to-lifetime ------------


async def test_201_started_offline_without_meter_takes_the_first_sample_as_baseline() -> None:
    s, store = Session("CP-A", "ocpp2.0.1", t0=T0 + 3 * HOUR), MemoryTransactionStore()
    started = transaction_event("Started", "tx-1", 0, T0, evse=(1, 1))
    started["offline"] = True
    updated = transaction_event(
        "Updated", "tx-1", 1, T0 + 10 * MIN, meter_values=energy(T0 + 10 * MIN, 12_345_678)
    )
    updated["offline"] = True
    await feed(
        store,
        s.call("TransactionEvent", started),
        s.call("TransactionEvent", updated),
        te(
            s,
            "Ended",
            2,
            T0 + 50 * MIN,
            meter_values=energy(T0 + 50 * MIN, 12_360_000),
            stopped_reason="EVDisconnected",
        ),
    )
    tx = only(store)
    assert (tx.meter_start_wh, tx.energy_wh, tx.offline) == (12_345_678, 14_322, True)
    assert "offline" in txp.flags(tx)


async def test_16_offline_start_with_zero_meter_is_not_a_baseline() -> None:
    # Queued while offline (timestamps 2 h older than their arrival), meterStart written as 0.
    s, store = Session("CP-B", t0=T0 + 2 * HOUR), MemoryTransactionStore()
    frames = [
        *start_16(s, 41, meter=0, ts=T0),
        s.call(
            "MeterValues", meter_values16(1, mv16(T0 + 5 * MIN, sv16("8500000")), transaction_id=41)
        ),
        s.call("StopTransaction", stop16(41, 8_512_000, T0 + 40 * MIN)),
    ]
    await feed(store, *frames)
    tx = only(store)
    assert (tx.meter_start_wh, tx.meter_start_ms, tx.energy_wh) == (8_500_000, T0 + 5 * MIN, 12_000)
    assert {"offline", "baseline_from_first_sample"} <= set(txp.flags(tx))


async def test_16_zero_start_followed_by_a_lifetime_register_online_is_not_a_baseline() -> None:
    s, store = Session("CP-C", t0=T0 - 2_000), MemoryTransactionStore()
    await feed(
        store,
        *start_16(s, 42, meter=0, ts=T0),
        s.call(
            "StopTransaction",
            stop16(
                42, 2_000_500, T0 + 30 * MIN, transaction_data=[mv16(T0 + MIN, sv16("2000000"))]
            ),
        ),
    )
    tx = only(store)
    assert (tx.meter_start_wh, tx.energy_wh, tx.offline) == (2_000_000, 500, False)


async def test_a_new_meter_really_starting_at_zero_keeps_its_baseline() -> None:
    s, store = Session("CP-D", t0=T0 - 2_000), MemoryTransactionStore()
    await feed(
        store,
        *start_16(s, 43, meter=0, ts=T0),
        s.call("StopTransaction", stop16(43, 3_000, T0 + 30 * MIN)),
    )
    tx = only(store)
    assert (tx.meter_start_wh, tx.energy_wh, txp.flags(tx)) == (0, 3_000, [])


# --- bulk, out of order, seqNo gaps, duplicates --------------------------------------------


def session201(s: Session) -> list[FrameEnvelope]:
    return [
        te(
            s,
            "Started",
            0,
            T0,
            evse=(1, 1),
            id_token="TOK",
            meter_values=energy(T0, 1_000),
            charging_state="EVConnected",
        ),
        te(s, "Updated", 1, T0 + MIN, trigger="ChargingStateChanged", charging_state="Charging"),
        te(s, "Updated", 2, T0 + 20 * MIN, meter_values=energy(T0 + 20 * MIN, 6_000)),
        te(
            s,
            "Updated",
            3,
            T0 + 30 * MIN,
            trigger="ChargingStateChanged",
            charging_state="SuspendedEV",
        ),
        te(
            s,
            "Ended",
            4,
            T0 + 45 * MIN,
            trigger="EVDeparted",
            stopped_reason="EVDisconnected",
            meter_values=energy(T0 + 45 * MIN, 9_000),
            charging_state="Idle",
        ),
    ]


async def test_201_events_uploaded_in_bulk_in_any_order_give_the_in_order_transaction() -> None:
    in_order = MemoryTransactionStore()
    frames = session201(Session("CP-E", "ocpp2.0.1"))
    await feed(in_order, *frames)
    expected = only(in_order)
    rng = random.Random(6)
    for _ in range(20):
        shuffled = frames[:]
        rng.shuffle(shuffled)
        store = MemoryTransactionStore()
        await feed(store, *shuffled)
        got = only(store)
        assert {**got.to_dict(), "last_event_id": "", "updated_ms": 0} == {
            **expected.to_dict(),
            "last_event_id": "",
            "updated_ms": 0,
        }
    assert (expected.energy_wh, expected.state, expected.charging_state) == (8_000, "ended", "Idle")
    assert [p["state"] for p in txp.charging_periods(expected)] == [
        "EVConnected",
        "Charging",
        "SuspendedEV",
        "Idle",
    ]
    assert txp.charging_periods(expected)[1] == {
        "state": "Charging",
        "start_ms": T0 + MIN,
        "end_ms": T0 + 30 * MIN,
    }


async def test_201_updated_before_started_and_seq_gaps_filled_later() -> None:
    store, frames = MemoryTransactionStore(), session201(Session("CP-F", "ocpp2.0.1"))
    await feed(store, frames[2], frames[4])  # Updated #2 and Ended #4 arrive first
    tx = only(store)
    assert (txp.missing_seq_nos(tx), tx.started_seen, tx.state) == ([3], False, "ended")
    assert "no_start" in txp.flags(tx) and "seq_gaps" in txp.flags(tx)
    await feed(store, frames[0], frames[3], frames[1])
    tx = only(store)
    assert (txp.missing_seq_nos(tx), tx.seq_ranges, tx.started_seen) == ([], [[0, 4]], True)
    assert txp.flags(tx) == []
    assert (tx.started_ms, tx.energy_wh, tx.id_token) == (T0, 8_000, "TOK")


async def test_the_same_frame_twice_and_a_kafka_redelivery_change_nothing() -> None:
    s, store = Session("CP-G", "ocpp2.0.1"), MemoryTransactionStore()
    frames = session201(s)
    first = await feed(store, *frames)
    saves, final = store.saves, only(store)
    # Kafka redelivered after a crash (the same envelopes): only the frame behind the
    # stored state publishes its snapshot again.
    again = await feed(store, *frames)
    assert [bool(p) for p in again] == [False] * 4 + [True]
    assert again[-1].snapshots == [final] and store.saves == saves and only(store) == final
    # And the station retried (a new frame, same content) ...
    retried = [s.call("TransactionEvent", orjson.loads(f.frame)[3]) for f in frames]
    # ... which moves only when it was last heard of: no new fact, no second event.
    retried_out = await feed(store, *retried)
    assert [e for p in retried_out for e in p.events] == []
    bookkeeping = {"updated_ms": 0, "activity_ms": 0, "last_event_id": "", "revision": 0}
    assert {**only(store).to_dict(), **bookkeeping} == {**final.to_dict(), **bookkeeping}
    assert len([e for p in first for e in p.events]) == 5  # one neutral event per TransactionEvent


# --- 1.6 stops for unknown and already stopped transactions ------------------------------


async def test_a_status_redelivered_after_a_later_start_leaves_the_transaction_alone() -> None:
    # Found by kill -9 of the processors under load (loadtests.faults): Kafka redelivered the
    # Available of the previous session after the next transaction was already in the store.
    s, store = Session("CP-RD", t0=T0 - 2_000), MemoryTransactionStore()
    available = s.call("StatusNotification", status16(1, "Available", ts=T0 - 1_000))
    booted = s.call("BootNotification", boot16())
    await feed(store, available, booted, *start_16(s, 51, meter=1_000, ts=T0))
    in_order = only(store)
    await feed(store, available, booted)  # redelivered after a crash
    assert only(store) == in_order
    assert (in_order.state_changes, in_order.boot_ms) == ([], 0)


async def test_16_stop_for_an_unknown_transaction_is_recorded_and_flagged() -> None:
    s, store = Session("CP-H"), MemoryTransactionStore()
    await feed(store, s.call("StopTransaction", stop16(777, 5_000, T0, reason="PowerLoss")))
    tx = only(store)
    assert (tx.key, tx.state, tx.stop_reason, tx.ended_ms) == ("CP-H/777", "ended", "PowerLoss", T0)
    assert "no_start" in txp.flags(tx)


async def test_16_a_second_different_stop_is_kept_but_the_first_reason_wins() -> None:
    s, store = Session("CP-I", t0=T0 - 2_000), MemoryTransactionStore()
    stop = s.call("StopTransaction", stop16(44, 4_000, T0 + 30 * MIN, reason="Local"))
    await feed(store, *start_16(s, 44, meter=1_000, ts=T0), stop)
    await feed(store, s.call("StopTransaction", orjson.loads(stop.frame)[3]))  # identical retry
    assert "stopped_twice" not in txp.flags(only(store))
    await feed(store, s.call("StopTransaction", stop16(44, 4_200, T0 + 31 * MIN, reason="Remote")))
    tx = only(store)
    assert (tx.stop_reason, len(tx.stops), tx.energy_wh) == ("Local", 2, 3_200)
    assert "stopped_twice" in txp.flags(tx)


# --- remote starts correlated to their command --------------------------------------------


async def test_16_remote_start_is_matched_by_tag_and_connector() -> None:
    s, store = Session("CP-J", t0=T0 - 5_000), MemoryTransactionStore()
    remote = s.csms_call(
        "RemoteStartTransaction", {"connectorId": 1, "idTag": "APP-7"}, uid="cmd-42"
    )
    await feed(store, remote, *start_16(s, 45, meter=100, ts=T0, tag="APP-7"))
    tx = only(store)
    assert (tx.remote_start_uid, tx.trigger_reason) == ("cmd-42", "RemoteStart")
    assert store.remotes == {} and "remote_start" in txp.flags(tx)
    # Another tag's start on the same station is not this command's.
    await feed(store, *start_16(s, 46, meter=100, ts=T0 + MIN, tag="RFID-1"))
    assert store.txs["CP-J/46"].remote_start_uid == ""


async def test_201_remote_start_is_matched_by_remote_start_id_or_the_response() -> None:
    s, store = Session("CP-K", "ocpp2.0.1"), MemoryTransactionStore()
    request = s.csms_call(
        "RequestStartTransaction",
        {"remoteStartId": 7, "idToken": {"idToken": "APP", "type": "Central"}},
        uid="cmd-7",
    )
    started = transaction_event("Started", "tx-1", 0, T0, trigger="RemoteStart")
    started["transactionInfo"]["remoteStartId"] = 7
    await feed(store, request, s.call("TransactionEvent", started))
    tx = only(store)
    assert (tx.remote_start_id, tx.remote_start_uid, tx.trigger_reason) == (
        7,
        "cmd-7",
        "RemoteStart",
    )
    # A start for a transaction already going: the response names it.
    other = s.csms_call(
        "RequestStartTransaction",
        {"remoteStartId": 8, "idToken": {"idToken": "APP", "type": "Central"}},
        uid="cmd-8",
    )
    await feed(
        store,
        s.call("TransactionEvent", transaction_event("Started", "tx-2", 0, T0)),
        other,
        s.answer(other, {"status": "Accepted", "transactionId": "tx-2"}),
    )
    assert store.txs["CP-K/tx-2"].remote_start_uid == "cmd-8"


# --- reboots and zombies --------------------------------------------------------------------


def processors(store: MemoryTransactionStore, sent: list[tuple[str, bytes]]) -> Processors:
    class Outputs:
        async def send(self, topic: str, key: bytes, value: bytes) -> None:
            sent.append((topic, value))

    return Processors(
        Topics(),
        Outputs(),
        transactions=store,
        stations=MemoryStationStore(),
        device_models=MemoryDeviceModelStore(),
        inference=MemoryInferenceStore(),
        policy=ZombiePolicy(idle_after_ms=24 * HOUR, reboot_grace_ms=15 * MIN),
    )


async def test_station_rebooting_mid_transaction_and_never_resuming_is_closed_by_policy() -> None:
    s, store = Session("CP-L", t0=T0 - 2_000), MemoryTransactionStore()
    sent: list[tuple[str, bytes]] = []
    proc = processors(store, sent)
    await feed(
        store,
        *start_16(s, 47, meter=1_000, ts=T0),
        s.call("StatusNotification", status16(1, "Charging", ts=T0 + 1_000)),
    )
    boot = s.call("BootNotification", boot16())
    await feed(store, boot, s.call("StatusNotification", status16(1, "Available")))
    tx = only(store)
    assert (tx.state, tx.boot_ms, "rebooted" in txp.flags(tx)) == ("active", boot.ts, True)
    assert await proc.sweep_zombies(boot.ts + 16 * MIN) == 0  # no frame folded since: no sweep
    proc.stream_ms = boot.ts + 14 * MIN  # other stations' frames move the clock on
    assert await proc.sweep_zombies(boot.ts + 16 * MIN) == 0  # still within the grace
    proc.stream_ms = boot.ts + 16 * MIN
    assert await proc.sweep_zombies(boot.ts + 16 * MIN) == 1
    ((topic, raw),) = sent
    assert topic == "csms.policy"
    await feed(store, decode(raw))
    tx = only(store)
    assert (tx.state, tx.stop_reason, tx.ended_ms) == (
        "ended",
        "StationRebooted",
        boot.ts + 16 * MIN,
    )
    assert "closed_by_policy" in txp.flags(tx)
    assert txp.snapshot(tx)["closed_by"] == "policy"
    # The station's queued stop arrives after all: its reason and time win.
    await feed(
        store, s.call("StopTransaction", stop16(47, 1_900, T0 + 5 * MIN, reason="PowerLoss"))
    )
    tx = only(store)
    assert (tx.stop_reason, tx.ended_ms, txp.snapshot(tx)["closed_by"]) == (
        "PowerLoss",
        T0 + 5 * MIN,
        "station",
    )
    assert await proc.sweep_zombies(boot.ts + 20 * HOUR) == 0


async def test_a_session_that_resumes_after_a_reboot_stays_open() -> None:
    s, store = Session("CP-M", t0=T0 - 2_000), MemoryTransactionStore()
    sent: list[tuple[str, bytes]] = []
    proc = processors(store, sent)
    await feed(store, *start_16(s, 48, meter=1_000, ts=T0))
    boot = s.call("BootNotification", boot16())
    await feed(store, boot, s.call("StatusNotification", status16(1, "Charging")))
    proc.stream_ms = boot.ts + HOUR
    assert await proc.sweep_zombies(boot.ts + HOUR) == 0
    assert only(store).charging_state == "Charging"


async def test_a_transaction_silent_for_too_long_is_closed_once_as_timeout() -> None:
    s, store = Session("CP-N", "ocpp2.0.1"), MemoryTransactionStore()
    sent: list[tuple[str, bytes]] = []
    proc = processors(store, sent)
    await feed(store, te(s, "Started", 0, T0))
    last = only(store).activity_ms
    proc.stream_ms = last + 30 * HOUR  # other stations' frames have moved the clock on
    assert await proc.sweep_zombies(last + 23 * HOUR) == 0
    assert await proc.sweep_zombies(last + 25 * HOUR) == 1
    assert await proc.sweep_zombies(last + 26 * HOUR) == 1  # not folded yet: decided again
    for _, raw in sent:
        await feed(store, decode(raw))
    tx = only(store)
    assert (tx.state, tx.stop_reason, tx.ended_ms) == ("ended", "Timeout", last + 25 * HOUR)
    assert await proc.sweep_zombies(last + 30 * HOUR) == 0


# --- the published stream ---------------------------------------------------------------------


async def test_csms_transactions_carries_snapshots_and_neutral_events_of_both_versions() -> None:
    store = MemoryTransactionStore()
    sent: list[tuple[str, bytes]] = []
    proc = processors(store, sent)
    s16, s201 = Session("CP-O", t0=T0 - 2_000), Session("CP-P", "ocpp2.0.1")
    frames16 = [
        s16.connect(),
        s16.call("StatusNotification", status16(1, "Available")),
        s16.call("StatusNotification", status16(1, "Preparing")),
        *start_16(s16, 49, meter=0, ts=T0),
        s16.call("StatusNotification", status16(1, "Charging")),
        s16.call("StopTransaction", stop16(49, 900, T0 + MIN)),
        s16.call("StatusNotification", status16(1, "Finishing")),
        s16.call("StatusNotification", status16(1, "Available")),
    ]
    for env in [*frames16, *session201(s201)]:
        for step in proc.steps.values():
            await step(env)
    records = [orjson.loads(v) for t, v in sent if t == "csms.transactions"]
    events = [r for r in records if r["type"] == "event"]
    inferred = [(e["trigger_reason"], e["charging_state"]) for e in events if e["inferred"]]
    assert inferred[:3] == [
        ("CablePluggedIn", "EVConnected"),
        ("Authorized", "EVConnected"),
        ("ChargingStateChanged", "Charging"),
    ]
    assert ("EVDeparted", "Idle") in inferred
    assert all(
        e["station"] == "CP-O" and e["transaction_id"] in ("", "49")
        for e in events
        if e["inferred"]
    )
    native = [e["trigger_reason"] for e in events if not e["inferred"]]
    assert native == [
        "MeterValuePeriodic",
        "ChargingStateChanged",
        "MeterValuePeriodic",
        "ChargingStateChanged",
        "EVDeparted",
    ]
    snapshots = [r for r in records if r["type"] == "transaction"]
    assert {r["key"] for r in snapshots} == {"CP-O/49", "CP-P/tx-1"}
    assert len({e["id"] for e in events}) == len(events)


@pytest.mark.parametrize("n", [3])
def test_seq_ranges_merge_in_any_order(n: int) -> None:
    for order in itertools.permutations([0, 1, 2, 5, 6, 9]):
        ranges: list[list[int]] = []
        for seq in order:
            ranges = txp._add_seq(ranges, seq)
        assert ranges == [[0, 2], [5, 6], [9, 9]]
