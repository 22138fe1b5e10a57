"""`csms up` runs one gateway process per core on one port (SO_REUSEPORT): on the real stack
(two processes, tests/stack/conftest.py), real OCPP clients connecting to the one port are
served by both, each connection's frames archived with the id of the process that served it."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import RegistrationStatus
from websockets.asyncio.client import connect

from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

STATIONS = 24  # all on one of two processes by chance: 2 / 2**24


async def _boot(stack: Stack, station: str) -> str:
    async with connect(stack.ws_url(station), subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        charger = ChargePoint(station, ws)
        listener = asyncio.create_task(charger.start())
        try:
            answer = await charger.call(
                call.BootNotification(charge_point_model="M", charge_point_vendor="V")
            )
        finally:
            listener.cancel()
    return str(answer.status)


async def test_both_gateway_processes_serve_the_one_port(stack: Stack) -> None:
    run = uuid.uuid4().hex[:6]
    stations = {f"GWP-{run}-{i}" for i in range(STATIONS)}
    statuses = await asyncio.gather(*(_boot(stack, s) for s in sorted(stations)))
    assert set(statuses) == {RegistrationStatus.accepted}
    frames = await stack.read_frames(stations, 4 * STATIONS)  # connect, boot, answer, disconnect
    by_station: dict[str, set[str]] = {}
    for frame in frames:
        by_station.setdefault(frame.station, set()).add(frame.gw)
    assert set(by_station) == stations
    assert all(len(gws) == 1 for gws in by_station.values()), "one connection, one process"
    assert set().union(*by_station.values()) == {"gw-e2e-1", "gw-e2e-2"}
