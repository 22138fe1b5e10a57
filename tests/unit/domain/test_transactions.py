from __future__ import annotations

import random

import pytest

from csms.domain import transactions as txp
from csms.domain.model import Transaction
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    CORE_TX_FIELDS,
    T0,
    Session,
    meter_values16,
    meter_values201,
    mv16,
    mv201,
    start16,
    start16_result,
    stop16,
    sv16,
    sv201,
    transaction_event,
)

MIN = 60_000


def core(tx: Transaction) -> dict[str, object]:
    return {name: getattr(tx, name) for name in CORE_TX_FIELDS}


class Fold:
    """The edge of the projection in memory: pending CALLs and transactions in dicts."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str, str], txp.PendingStart] = {}
        self.txs: dict[str, Transaction] = {}
        self.changes = 0

    def feed(self, *envs: FrameEnvelope) -> Fold:
        for env in envs:
            fact = txp.interpret(env)
            if isinstance(fact, txp.PendingStart):
                self.pending[(fact.station, fact.conn, fact.uid)] = fact
            elif isinstance(fact, txp.PendingDropped):
                self.pending.pop((fact.station, fact.conn, fact.uid), None)
            elif isinstance(fact, txp.StartConfirmed):
                pending = self.pending.pop((fact.station, fact.conn, fact.uid), None)
                self.update(txp.confirm(pending, fact))
            elif isinstance(fact, txp.TxUpdate):
                self.update(fact)
        return self

    def update(self, update: txp.TxUpdate) -> None:
        before = self.txs.get(update.key)
        after = txp.apply(before, update)
        if after != before:
            self.changes += 1
        self.txs[update.key] = after


def session16() -> tuple[Session, list[FrameEnvelope]]:
    s = Session("CP-16", conn="c-7")
    start = s.call("StartTransaction", start16(2, "04A2B3C4", 10_000, T0))
    frames = [
        start,
        s.result(start, start16_result(901)),
        s.call(
            "MeterValues",
            meter_values16(
                2,
                mv16(
                    T0 + 10 * MIN,
                    sv16("12.5", unit="kWh"),
                    sv16("4100", phase="L1"),  # a phase register is not the total
                    sv16("99999", location="Inlet"),  # nor is the grid side
                    sv16("11000", measurand="Power.Active.Import", unit="W"),
                ),
                transaction_id=901,
            ),
        ),
        s.call(
            "StopTransaction",
            stop16(
                901,
                18_250,
                T0 + 30 * MIN,
                transaction_data=[mv16(T0 + 30 * MIN, sv16("18250", context="Transaction.End"))],
            ),
        ),
    ]
    return s, frames


def test_16_session_from_start_call_to_stop() -> None:
    _, frames = session16()
    fold = Fold().feed(*frames)

    assert fold.pending == {}
    assert {k: core(v) for k, v in fold.txs.items()} == {
        "CP-16/901": core(
            Transaction(
                key="CP-16/901",
                station="CP-16",
                transaction_id="901",
                proto="ocpp1.6",
                evse=2,
                connector=1,
                id_token="04A2B3C4",
                state="ended",
                started_ms=T0,
                ended_ms=T0 + 30 * MIN,
                meter_start_wh=10_000.0,
                meter_stop_wh=18_250.0,
                meter_start_ms=T0,
                meter_stop_ms=T0 + 30 * MIN,
                energy_wh=8_250.0,
                stop_reason="Local",
                updated_ms=frames[-1].ts,
            )
        )
    }


def test_16_start_keeps_the_call_until_its_result_names_the_transaction() -> None:
    _, frames = session16()
    fold = Fold().feed(frames[0])
    assert fold.txs == {}
    assert fold.pending[("CP-16", "c-7", frames[0].uid)].meter_start_wh == 10_000.0

    fold.feed(frames[1])
    tx = fold.txs["CP-16/901"]
    assert (tx.state, tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (
        "active",
        10_000.0,
        10_000.0,
        0.0,
    )

    fold.feed(frames[2])
    tx = fold.txs["CP-16/901"]
    assert (tx.meter_stop_wh, tx.meter_stop_ms, tx.energy_wh) == (12_500.0, T0 + 10 * MIN, 2_500.0)


def test_16_a_result_matches_only_its_own_connection() -> None:
    s = Session("CP-16", conn="c-1")
    start = s.call("StartTransaction", start16(1, "T", 0, T0))
    other = Session("CP-16", conn="c-2")
    result = other.result(start, start16_result(5))
    fold = Fold().feed(start, result)
    assert fold.txs["CP-16/5"].id_token == ""  # created bare: the CALL was on c-1
    assert ("CP-16", "c-1", start.uid) in fold.pending


def test_16_call_error_drops_the_pending_start() -> None:
    s = Session()
    start = s.call("StartTransaction", start16(1, "T", 0, T0))
    fold = Fold().feed(start, s.error(start, "InternalError"))
    assert fold.pending == {} and fold.txs == {}


def test_16_stop_with_reason_and_stopping_tag() -> None:
    s = Session()
    start = s.call("StartTransaction", start16(1, "", 500, T0))  # idTag absent from a free-vend
    fold = Fold().feed(
        start,
        s.result(start, start16_result(3)),
        s.call("StopTransaction", stop16(3, 700, T0 + MIN, reason="EVDisconnected", id_tag="B")),
    )
    tx = fold.txs["CP-1/3"]
    assert (tx.stop_reason, tx.id_token, tx.energy_wh) == ("EVDisconnected", "B", 200.0)


def test_16_stop_without_a_known_start_still_records_the_end() -> None:
    fold = Fold().feed(Session().call("StopTransaction", stop16(77, 5_000, T0 + MIN)))
    tx = fold.txs["CP-1/77"]
    assert (tx.state, tx.ended_ms, tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (
        "ended",
        T0 + MIN,
        5_000.0,
        5_000.0,
        0.0,
    )


def test_16_late_offline_meter_values_do_not_move_the_stop_reading() -> None:
    s, frames = session16()
    late = s.call(
        "MeterValues",
        meter_values16(2, mv16(T0 + 20 * MIN, sv16("15000")), transaction_id=901),
    )
    in_order = Fold().feed(*frames[:3], late, frames[3]).txs
    late_arrival = Fold().feed(*frames, late).txs
    assert late_arrival["CP-16/901"].meter_stop_wh == 18_250.0
    assert late_arrival["CP-16/901"].energy_wh == 8_250.0
    assert {k: (t.meter_start_wh, t.meter_stop_wh) for k, t in in_order.items()} == {
        k: (t.meter_start_wh, t.meter_stop_wh) for k, t in late_arrival.items()
    }


def test_16_result_without_pending_creates_a_bare_transaction_and_is_idempotent() -> None:
    _, frames = session16()
    full = Fold().feed(*frames)
    before = full.txs["CP-16/901"]
    # Redelivery of the CALLRESULT alone (its CALL was already consumed):
    full.feed(frames[1])
    assert full.txs["CP-16/901"] == before

    bare = Fold().feed(frames[1]).txs["CP-16/901"]
    assert (bare.state, bare.id_token, bare.started_ms, bare.meter_start_wh) == (
        "active",
        "",
        frames[1].ts,
        None,
    )


def session201() -> tuple[Session, list[FrameEnvelope]]:
    s = Session("CP-201", "ocpp2.0.1")
    frames = [
        s.call(
            "TransactionEvent",
            transaction_event(
                "Started",
                "f3a1-tx",
                0,
                T0,
                trigger="CablePluggedIn",
                evse=(1, 1),
                meter_values=[mv201(T0, sv201(1.2, unit="kWh", context="Transaction.Begin"))],
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Updated", "f3a1-tx", 1, T0 + 5_000, trigger="Authorized", id_token="DEADBEEF"
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Updated",
                "f3a1-tx",
                2,
                T0 + 15 * MIN,
                meter_values=[
                    mv201(
                        T0 + 15 * MIN,
                        sv201(3_700, unit="Wh"),
                        sv201(7.4, measurand="Power.Active.Import", unit="W", multiplier=3),
                    )
                ],
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Ended",
                "f3a1-tx",
                3,
                T0 + 40 * MIN,
                trigger="EVCommunicationLost",
                stopped_reason="EVDisconnected",
                id_token="DEADBEEF",
                meter_values=[
                    mv201(T0 + 40 * MIN, sv201(9.45, unit="kWh", context="Transaction.End"))
                ],
            ),
        ),
    ]
    return s, frames


def test_201_session_started_updated_ended() -> None:
    _, frames = session201()
    tx = Fold().feed(*frames).txs["CP-201/f3a1-tx"]
    assert core(tx) == core(
        Transaction(
            key="CP-201/f3a1-tx",
            station="CP-201",
            transaction_id="f3a1-tx",
            proto="ocpp2.0.1",
            evse=1,
            connector=1,
            id_token="DEADBEEF",
            state="ended",
            started_ms=T0,
            ended_ms=T0 + 40 * MIN,
            meter_start_wh=1_200.0,
            meter_stop_wh=9_450.0,
            meter_start_ms=T0,
            meter_stop_ms=T0 + 40 * MIN,
            energy_wh=pytest.approx(8_250.0),  # type: ignore[arg-type]
            stop_reason="EVDisconnected",
            updated_ms=frames[-1].ts,
        )
    )
    assert (tx.started_seen, tx.seq_ranges, tx.trigger_reason) == (
        True,
        [[0, 3]],
        "EVCommunicationLost",
    )
    assert txp.flags(tx) == []


def test_201_ended_without_stopped_reason_means_local_and_multiplier_applies() -> None:
    s = Session("CP-21", "ocpp2.1")
    fold = Fold().feed(
        s.call(
            "TransactionEvent",
            transaction_event(
                "Started", "t", 0, T0, evse=(3, 2), meter_values=[mv201(T0, sv201(5, multiplier=3))]
            ),
        ),
        s.call(
            "TransactionEvent",
            transaction_event(
                "Ended", "t", 1, T0 + MIN, meter_values=[mv201(T0 + MIN, sv201(7, multiplier=3))]
            ),
        ),
    )
    tx = fold.txs["CP-21/t"]
    assert (tx.evse, tx.connector, tx.stop_reason, tx.energy_wh, tx.proto) == (
        3,
        2,
        "Local",
        2_000.0,
        "ocpp2.1",
    )


def test_201_same_transaction_id_on_two_stations_are_two_transactions() -> None:
    a, b = Session("A", "ocpp2.0.1"), Session("B", "ocpp2.0.1")
    fold = Fold().feed(
        a.call("TransactionEvent", transaction_event("Started", "1", 0, T0)),
        b.call("TransactionEvent", transaction_event("Started", "1", 0, T0)),
    )
    assert sorted(fold.txs) == ["A/1", "B/1"]


def test_applying_every_frame_twice_changes_nothing_the_second_time() -> None:
    for frames in (session16()[1], session201()[1]):
        once = Fold().feed(*frames)
        twice = Fold()
        for env in frames:
            twice.feed(env)
            changes = twice.changes
            if not isinstance(txp.interpret(env), txp.PendingStart):
                twice.feed(env)
                assert twice.changes == changes
        assert twice.txs == once.txs
        # A full replay over the existing read model changes nothing either.
        replayed = Fold()
        replayed.txs = dict(once.txs)
        replayed.feed(*frames)
        assert replayed.txs == once.txs and replayed.changes == 0


def test_201_updates_in_any_order_give_the_same_transaction() -> None:
    _, frames = session201()
    expected = Fold().feed(*frames).txs
    rng = random.Random(7)
    for _ in range(20):
        shuffled = frames[:]
        rng.shuffle(shuffled)
        assert Fold().feed(*shuffled).txs == expected


def test_frames_without_transaction_facts_are_ignored() -> None:
    s16, s201 = Session(), Session(proto="ocpp2.0.1")
    ignored = [
        s16.connect(),
        s16.call("Heartbeat", {}),
        s16.call("MeterValues", meter_values16(1, mv16(T0, sv16("1")))),  # no transactionId
        s16.call("StopTransaction", stop16(1, 1, T0), err="FormationViolation"),
        s16.call("StartTransaction", start16(1, "T", 0, T0), err="FormationViolation"),
        s16.call("StartTransaction", {"connectorId": "one"}),
        s16.call("TransactionEvent", transaction_event("Started", "x", 0, T0)),
        s201.call("MeterValues", meter_values201(1, mv201(T0, sv201(1)))),
        s201.call("StartTransaction", start16(1, "T", 0, T0)),
        s201.call("TransactionEvent", {"eventType": "Started", "transactionInfo": {}}),
        s201.call("TransactionEvent", {"eventType": "Started", "transactionInfo": []}),
    ]
    start = s16.call("StartTransaction", start16(1, "T", 0, T0))
    ignored.append(s16.result(start, {"idTagInfo": {"status": "Accepted"}}))  # no transactionId
    ignored.append(s16.result(start, []))
    assert [txp.interpret(env) for env in ignored] == [None] * len(ignored)


def test_energy_readings_convert_units_and_keep_only_the_total_register() -> None:
    s = Session()
    env = s.call(
        "MeterValues",
        meter_values16(
            1,
            mv16(
                T0,
                sv16("1", unit="kWh"),
                sv16("2", unit="KWH"),
                sv16("3", unit="MWh"),
                sv16("4", unit="Wh"),
                sv16("5", unit="varh"),
                sv16("6", measurand="Energy.Active.Export.Register"),
            ),
            transaction_id=1,
        ),
    )
    update = txp.interpret(env)
    assert isinstance(update, txp.TxUpdate)
    assert [r.wh for r in update.readings] == [1_000.0, 2_000.0, 3_000_000.0, 4.0]


def test_pending_start_round_trips_and_rejects_foreign_values() -> None:
    start = Session().call("StartTransaction", start16(2, "TAG", 250, T0))
    pending = txp.interpret(start)
    assert isinstance(pending, txp.PendingStart)
    assert txp.PendingStart.from_dict(pending.to_dict()) == pending
    assert txp.PendingStart.from_dict({"action": "Reset", "uid": "1"}) is None
    assert txp.PendingStart.from_dict([1, 2]) is None
    assert txp.PendingStart.from_dict({**pending.to_dict(), "ts_ms": "soon"}) is None


def test_transaction_dict_round_trip_ignores_unknown_keys() -> None:
    tx = Fold().feed(*session201()[1]).txs["CP-201/f3a1-tx"]
    assert Transaction.from_dict({**tx.to_dict(), "from_the_future": 1}) == tx
    assert "seen_event_ids" not in tx.to_dict()
    assert txp.tx_key("CP 1", "42") == "CP 1/42"


def test_advance_saves_changes_and_republishes_only_the_last_changing_frame() -> None:
    _, frames = session201()
    updates = [txp.interpret(env) for env in frames]
    assert all(isinstance(u, txp.TxUpdate) for u in updates)
    started, authorized, metered, ended = (u for u in updates if isinstance(u, txp.TxUpdate))

    tx, verdict = txp.advance(None, started)
    assert (verdict, tx.last_event_id) == ("apply", frames[0].id)
    for update in (authorized, metered, ended):
        tx, verdict = txp.advance(tx, update)
        assert (verdict, tx.last_event_id) == ("apply", update.event_id)

    assert txp.advance(tx, ended) == (tx, "republish")
    assert txp.advance(tx, metered) == (tx, "skip")
    assert txp.advance(tx, started) == (tx, "skip")
