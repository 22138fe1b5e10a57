from __future__ import annotations

from csms.envelope import FrameEnvelope
from csms.projections.status import project_status
from csms.projections.transactions import project_transaction
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    meter_values16,
    mv16,
    start16,
    start16_result,
    status16,
    stop16,
    sv16,
)
from tests.unit.processors.fakes import MemoryStationStore, MemoryTransactionStore


def session16() -> list[FrameEnvelope]:
    s = Session("CP-9", conn="c-1")
    start = s.call("StartTransaction", start16(1, "TAG-1", 1_000, T0))
    return [
        s.connect(),
        s.call("BootNotification", boot16()),
        s.call("StatusNotification", status16(1, "Preparing")),
        start,
        s.result(start, start16_result(11)),
        s.call("StatusNotification", status16(1, "Charging")),
        s.call(
            "MeterValues", meter_values16(1, mv16(T0 + 60_000, sv16("1500")), transaction_id=11)
        ),
        s.call("StopTransaction", stop16(11, 2_750, T0 + 120_000, reason="Remote")),
        s.call("StatusNotification", status16(1, "Finishing")),
        s.disconnect(),
    ]


async def test_transaction_snapshots_are_returned_only_when_something_changed() -> None:
    store, frames = MemoryTransactionStore(), session16()
    snapshots = [await project_transaction(env, store) for env in frames]

    published = [tx for out in snapshots for tx in out.snapshots]
    assert [(tx.state, tx.energy_wh, tx.charging_state) for tx in published] == [
        ("active", 0.0, ""),
        ("active", 0.0, "Charging"),  # the 1.6 status names the charging state
        ("active", 500.0, "Charging"),
        ("ended", 1_750.0, "Charging"),
    ]
    assert store.pending == {}  # the CALL was dropped once its transaction was saved
    assert store.txs["CP-9/11"] == published[-1]

    saves = store.saves
    again = [await project_transaction(env, store) for env in frames]
    # A full redelivery writes nothing and publishes only the final snapshot again, for the
    # frame that made it (its first publication may have been lost in a crash).
    assert [out.snapshots for out in again] == [[]] * 7 + [[published[-1]], [], []]
    assert store.saves == saves


async def test_status_changes_are_returned_once_and_the_station_hash_follows() -> None:
    store, frames = MemoryStationStore(), session16()
    changed = [await project_status(env, store) for env in frames]

    statuses = [s.status for batch in changed for s in batch]
    assert statuses == ["Preparing", "Charging", "Finishing"]
    fields = store.stations["CP-9"]
    assert (fields["online"], fields["vendor"], fields["protocol"]) == ("0", "Alfen BV", "ocpp1.6")
    assert store.connectors["CP-9"]["1/1"]["status"] == "Finishing"

    writes = len(store.station_writes)
    again = [await project_status(env, store) for env in frames]
    assert len(store.station_writes) == writes  # nothing moved, nothing written
    # Only the stored (last) notification is published again; older ones never regress it.
    assert [s.status for batch in again for s in batch] == ["Finishing"]
    assert again[8] == changed[8]


async def test_outbound_frames_do_not_touch_the_station() -> None:
    store = MemoryStationStore()
    s = Session()
    call = s.call("Heartbeat", {})
    assert await project_status(s.result(call, {"currentTime": "x"}), store) == []
    assert store.stations == {}
