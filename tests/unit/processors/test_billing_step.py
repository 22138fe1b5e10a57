"""The billing projection's hard cases: frames through the real transactions step,
its snapshots through the real billing step, in-memory stores."""

from __future__ import annotations

import random
from typing import Any

import orjson

from csms.domain import transactions as txp
from csms.domain.session_bill import Display
from csms.domain.tariffs import parse_tariff
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    T0,
    Session,
    meter_values16,
    mv16,
    mv201,
    start16,
    start16_result,
    stop16,
    sv16,
    sv201,
    transaction_event,
)
from tests.unit.processors.billing_harness import HOUR, MIN, Harness, billed


def te(
    s: Session, event: str, seq: int, ts: int, wh: float | None = None, **kw: Any
) -> FrameEnvelope:
    mv = None if wh is None else [mv201(ts, sv201(wh, unit="Wh"))]
    payload = transaction_event(event, "tx-1", seq, ts, meter_values=mv, **kw)
    return s.call("TransactionEvent", payload)


def session_201(
    s: Session, start: int, readings: list[float], step_ms: int = 10 * MIN
) -> list[FrameEnvelope]:
    frames = [
        te(
            s,
            "Started",
            0,
            start,
            readings[0],
            evse=(1, 1),
            id_token="TAG-1",
            charging_state="Charging",
        )
    ]
    for i, wh in enumerate(readings[1:-1], start=1):
        frames.append(te(s, "Updated", i, start + i * step_ms, wh))
    last = len(readings) - 1
    frames.append(
        te(s, "Ended", last, start + last * step_ms, readings[-1], stopped_reason="Local")
    )
    return frames


# --- hard cases ------------------------------------------------------------------------------


async def test_offline_started_16_session_is_billed_from_its_first_real_reading() -> None:
    h = Harness()
    s = Session("CP-16", "ocpp1.6", t0=T0 + 3 * HOUR)  # everything arrives 3 h late
    call = s.call("StartTransaction", start16(1, "TAG-1", 0, T0))  # 0 Wh: meter unknown
    await h.feed(call, s.result(call, start16_result(7)))
    await h.feed(
        s.call(
            "MeterValues",
            meter_values16(1, mv16(T0 + 10 * MIN, sv16("12345678")), transaction_id=7),
        ),
        s.call(
            "MeterValues",
            meter_values16(1, mv16(T0 + 40 * MIN, sv16("12355678")), transaction_id=7),
        ),
        s.call("StopTransaction", stop16(7, 12_365_678, T0 + HOUR)),
    )
    bill = h.final()
    assert (bill["energy_wh"], bill["total"], bill["revision"]) == ("20000.000", "8.00", 1)
    assert bill["tariff_id"] == "FLAT" and bill["transaction_id"] == "7"
    assert h.lookups.asked[0][3] == T0  # priced with the tariff valid when it started


async def test_late_out_of_order_and_duplicated_events_give_the_in_order_bill() -> None:
    night = parse_tariff(
        {
            "id": "TOU",
            "currency": "EUR",
            "energy_per_kwh": "0.40",
            "charging_per_hour": "0.60",
            "periods": [
                {"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.20"}
            ],
        }
    )
    start = T0 + 21 * HOUR + 10 * MIN  # crosses 22:00 UTC
    readings = [1000.0 + 2500.0 * i for i in range(10)]
    in_order = Harness(night)
    s = Session("CP-2", "ocpp2.0.1", t0=start)
    frames = session_201(s, start, readings)
    await in_order.feed(*frames)
    expected = in_order.final()
    assert len(in_order.bills) == 1
    periods = {(i["component"], i["period"]) for i in expected["items"]}
    assert {("energy", "base"), ("energy", "night")} <= periods
    rng = random.Random(11)
    for _ in range(8):
        h = Harness(night)
        shuffled = frames + rng.sample(frames, 4)
        rng.shuffle(shuffled)
        await h.feed(*shuffled)
        assert billed(h.final()) == billed(expected)
        by_revision = {b["revision"]: billed(b) for b in h.bills}
        assert sorted(by_revision) == list(range(1, len(by_revision) + 1))
        # A revision published twice (a redelivered frame) is the same bill both times.
        assert all(billed(b) == by_revision[b["revision"]] for b in h.bills)


async def test_duplicates_and_redelivery_compute_the_bill_once() -> None:
    h = Harness()
    s = Session("CP-3", "ocpp2.0.1", t0=T0)
    await h.feed(*session_201(s, T0, [0.0, 5000.0, 9000.0]))
    assert len(h.bills) == 1
    ended = h.snapshots[-1]
    # The station retries every event (new envelopes, same content): no new bill.
    await h.feed(*session_201(s, T0, [0.0, 5000.0, 9000.0]))
    assert len(h.bills) == 1
    # Kafka redelivers the snapshot behind the stored bill (a crash may have lost the bill
    # after Redis was written): the same bill again, same revision - ClickHouse keeps one.
    await h.redeliver(ended)
    assert len(h.bills) == 2 and h.bills[1] == h.bills[0]
    # An older snapshot redelivered: nothing.
    await h.redeliver(h.snapshots[1])
    assert len(h.bills) == 2
    state = h.store.bills[txp.tx_key("CP-3", "tx-1")]
    assert state["revision"] == 1 and state["bill"]["total"] == "3.60"


async def test_meter_reset_is_flagged_and_billed_as_the_transaction_counts_it() -> None:
    h = Harness()
    s = Session("CP-4", "ocpp2.0.1", t0=T0)
    await h.feed(*session_201(s, T0, [5000.0, 8000.0, 200.0, 1200.0]))
    bill = h.final()
    # One energy figure (csms.domain.energy): the register ends below its baseline and did
    # not wrap, so nothing can be shown to have been delivered - the transaction says 0 too.
    assert bill["energy_wh"] == "0.000"
    assert h.snapshots[-1]["energy_wh"] == 0.0
    assert "meter_reset" in bill["flags"]
    assert "meter_decreased" in h.snapshots[-1]["flags"]


async def test_a_session_closed_by_the_csms_policy_gets_its_final_bill() -> None:
    h = Harness(parse_tariff({"id": "T", "currency": "EUR", "charging_per_hour": "2"}))
    s = Session("CP-5", "ocpp2.0.1", t0=T0)
    frames = session_201(s, T0, [0.0, 1000.0, 2000.0])[:-1]  # never ended by the station
    await h.feed(*frames)
    assert h.bills == []
    tx = await h.p.transactions.load(txp.tx_key("CP-5", "tx-1"))
    assert tx is not None
    await h.feed(txp.policy_close(tx, "Timeout", T0 + 3 * HOUR, "policy-1"))
    bill = h.final()
    assert bill["closed_by"] and bill["stop_reason"] == "Timeout"
    assert bill["state"] == "final" and bill["ended_ms"] == T0 + 3 * HOUR


async def test_no_tariff_means_no_bill_and_one_more_look_at_the_end() -> None:
    h = Harness(tariff=None)
    s = Session("CP-6", "ocpp2.0.1", t0=T0)
    await h.feed(*session_201(s, T0, [0.0, 1000.0, 2000.0]))
    assert h.bills == [] and len(h.lookups.asked) == 2  # at the start, and at the end


async def test_a_station_that_displays_cost_gets_cost_updates_and_a_checkpoint() -> None:
    h = Harness(display=Display(final=True, message=True, cost_updated=True))
    s = Session("CP-7", "ocpp2.0.1", t0=T0)
    frames = session_201(s, T0, [0.0 + 1000 * i for i in range(8)], step_ms=2 * MIN)
    await h.feed(*frames[:-1])
    key = txp.tx_key("CP-7", "tx-1")
    assert set(h.store.checkpoints[key]) == {"tariff", "show", "state", "tx"}
    updates = [p for _, action, p in h.messages.sent if action == "CostUpdated"]
    # Every 5 min of session time: at 0, 6 and 12 min of a 12-minute session.
    assert [u["totalCost"] for u in updates] == [0.0, 1.2, 2.4]
    assert all(u["transactionId"] == "tx-1" for u in updates)
    await h.feed(frames[-1])
    assert key not in h.store.checkpoints  # the session is over: the gateway needs it no more


async def test_16_cost_datatransfer_only_when_the_station_displays_and_the_operator_opts_in() -> (
    None
):
    h = Harness(display=Display(datatransfer16=True))
    s = Session("CP-8", "ocpp1.6", t0=T0)
    call = s.call("StartTransaction", start16(1, "TAG-1", 1000, T0))
    await h.feed(call, s.result(call, start16_result(9)))
    await h.feed(s.call("StopTransaction", stop16(9, 6000, T0 + HOUR)))
    messages = [orjson.loads(p["data"]) | {"id": p["messageId"]} for _, a, p in h.messages.sent]
    assert [m["id"] for m in messages] == ["RunningCost", "FinalCost"]
    assert messages[-1]["transactionId"] == 9 and messages[-1]["cost"] == 2.0
    silent = Harness()
    call = s.call("StartTransaction", start16(1, "TAG-1", 1000, T0))
    await silent.feed(call, s.result(call, start16_result(10)))
    assert silent.messages.sent == []
