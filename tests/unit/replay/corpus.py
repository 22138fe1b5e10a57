"""A frame corpus for replay tests: 1.6 and 2.0.1 sessions as the gateway records them, with
the hard cases a replay must fold like the live processors (duplicates, out-of-order 2.0.1
events, a 1.6 StopTransaction for an unknown transaction, a reconnect)."""

from __future__ import annotations

from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    boot201,
    meter_values16,
    mv16,
    mv201,
    start16,
    start16_result,
    status16,
    status201,
    stop16,
    sv16,
    sv201,
    transaction_event,
)

MIN = 60_000


def session16(station: str, tx_id: int, *, t0: int = T0) -> list[FrameEnvelope]:
    """Boot, statuses, authorize, start, meter values every minute (one duplicated), stop."""
    s = Session(station, "ocpp1.6", conn=f"{station}-c1", gw="gw-replay", t0=t0)
    auth = s.call("Authorize", {"idTag": "04E1F2A3"})
    start = s.call("StartTransaction", start16(1, "04E1F2A3", 120_000, t0 + MIN))
    envs = [
        s.connect(),
        s.call("BootNotification", boot16(serial=f"SN-{station}")),
        s.call("StatusNotification", status16(0, "Available")),
        s.call("StatusNotification", status16(1, "Preparing", ts=t0 + MIN // 2)),
        auth,
        s.result(auth, {"idTagInfo": {"status": "Accepted"}}),
        start,
        s.result(start, start16_result(tx_id)),
        s.call("StatusNotification", status16(1, "Charging", ts=t0 + MIN)),
    ]
    for minute in range(2, 6):
        wh = 120_000 + 250 * minute
        mv = s.call(
            "MeterValues",
            meter_values16(
                1,
                mv16(t0 + minute * MIN, sv16(str(wh), unit="Wh"), sv16("7400", unit="W")),
                transaction_id=tx_id,
            ),
        )
        envs += [mv, s.result(mv, {})]
    envs.append(envs[-2])  # the same MeterValues twice (a redelivery)
    stop = s.call(
        "StopTransaction",
        stop16(tx_id, 131_250, t0 + 61 * MIN, reason="EVDisconnected", id_tag="04E1F2A3"),
    )
    envs += [
        stop,
        s.result(stop, {"idTagInfo": {"status": "Accepted"}}),
        s.call("StatusNotification", status16(1, "Finishing", ts=t0 + 61 * MIN)),
        stop,  # a StopTransaction for an already stopped transaction
        s.call("StopTransaction", stop16(tx_id + 500_000, 10, t0 + 62 * MIN)),  # unknown tx
        s.disconnect(),
    ]
    return envs


def session201(station: str, tx_id: str, *, t0: int = T0) -> list[FrameEnvelope]:
    """Started / Updated / Ended with Updated events out of order and Started twice, then a
    reconnect."""
    s = Session(station, "ocpp2.0.1", conn=f"{station}-c1", gw="gw-replay", t0=t0)
    started = s.call(
        "TransactionEvent",
        transaction_event(
            "Started",
            tx_id,
            0,
            t0,
            trigger="CablePluggedIn",
            evse=(1, 1),
            meter_values=[mv201(t0, sv201(52.25, unit="kWh", context="Transaction.Begin"))],
        ),
    )
    authorized = s.call(
        "TransactionEvent",
        transaction_event("Updated", tx_id, 1, t0 + 10_000, trigger="Authorized", id_token="AB12"),
    )
    periodic = [
        s.call(
            "TransactionEvent",
            transaction_event(
                "Updated",
                tx_id,
                seq,
                t0 + seq * 5 * MIN,
                meter_values=[mv201(t0 + seq * 5 * MIN, sv201(52_250 + 900 * seq, unit="Wh"))],
            ),
        )
        for seq in range(2, 6)
    ]
    end_mv = mv201(t0 + 45 * MIN, sv201(58_250, unit="Wh", context="Transaction.End"))
    ended = s.call(
        "TransactionEvent",
        transaction_event(
            "Ended",
            tx_id,
            6,
            t0 + 45 * MIN,
            trigger="StopAuthorized",
            stopped_reason="Local",
            meter_values=[end_mv],
        ),
    )
    again = Session(station, "ocpp2.0.1", conn=f"{station}-c2", gw="gw-replay", t0=s.now)
    return [
        s.connect(),
        s.call("BootNotification", boot201(serial=f"SN-{station}")),
        s.call("StatusNotification", status201(1, 1, "Occupied", t0)),
        authorized,  # Updated before Started
        started,
        periodic[1],  # seqNo 3 before 2
        periodic[0],
        started,  # Started again
        periodic[2],
        periodic[3],
        ended,
        s.call("StatusNotification", status201(1, 1, "Available", t0 + 46 * MIN)),
        s.disconnect(),
        again.connect(),
        again.call("BootNotification", boot201(serial=f"SN-{station}")),
        again.call("StatusNotification", status201(1, 1, "Available", t0 + 50 * MIN)),
    ]


def corpus(run: str, *, stations: int = 2) -> list[FrameEnvelope]:
    """`stations` 1.6 and `stations` 2.0.1 stations (ids carry `run`), one session each."""
    envs: list[FrameEnvelope] = []
    for i in range(stations):
        envs += session16(f"CP16-{run}-{i}", 700_000 + i, t0=T0 + i * 1000)
        envs += session201(f"CP201-{run}-{i}", f"tx-{run}-{i}", t0=T0 + i * 1000)
    return envs
