"""The fault fleet's charger survives a CALLERROR: it sends the CALL again (as firmware retries
a transaction message) instead of ending its loop — a charger silenced by the fault it was
there to survive made fault runs wait forever for it (loadtests.faults, issue 20)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection, serve

from loadtests.fleet import FleetCharger, FleetRecord

ANSWERS: dict[str, dict[str, Any]] = {
    "BootNotification": {
        "status": "Accepted",
        "currentTime": "2026-12-07T00:00:00Z",
        "interval": 300,
    },
    "StatusNotification": {},
    "StartTransaction": {"transactionId": 7, "idTagInfo": {"status": "Accepted"}},
    "MeterValues": {},
    "StopTransaction": {"idTagInfo": {"status": "Accepted"}},
}


async def test_a_callerror_is_retried_and_the_session_still_finishes() -> None:
    refused: list[str] = []

    async def csms(ws: ServerConnection) -> None:
        async for raw in ws:
            _, uid, action, _payload = orjson.loads(raw)
            if action in ("StartTransaction", "StopTransaction") and action not in refused:
                refused.append(action)  # the first of each: Kafka was down, say
                await ws.send(orjson.dumps([4, uid, "InternalError", "not durable", {}]).decode())
            else:
                await ws.send(orjson.dumps([3, uid, ANSWERS[action]]).decode())

    record = FleetRecord()
    async with serve(csms, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        charger = FleetCharger(
            f"ws://127.0.0.1:{port}", "FLEET-T", "ocpp1.6", record, interval_s=0.01, meter_values=1
        )
        stop = asyncio.Event()
        task = asyncio.create_task(charger.run(stop))
        for _ in range(500):
            if record.sessions:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 30)
    assert refused == ["StartTransaction", "StopTransaction"]
    assert len(record.sessions) >= 1 and record.retries >= 2
    assert record.sessions[0].transaction_id == "7"
