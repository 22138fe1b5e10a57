"""Lenient acceptance on the real stack (`csms up`, ADR 0018): a 2.0.1 station that stops its
session while its periodic TransactionEvent(Updated) is still unanswered — as an independent
simulator fleet does — sends Ended at once. Both are answered CALLRESULT in order, the Ended
event is flagged ConcurrentCall in Kafka and in ClickHouse, and the session ends in the network
model with its energy."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import websockets

from csms.clock import iso_time
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:6]
DEADLINE_S = 60.0


def _event(kind: str, uid: str, ts_ms: int, wh: float, seq_no: int) -> str:
    payload = {
        "eventType": kind,
        "timestamp": iso_time(ts_ms),
        "triggerReason": {"Started": "CablePluggedIn", "Ended": "StopAuthorized"}.get(
            kind, "MeterValuePeriodic"
        ),
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-c", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": iso_time(ts_ms),
                "sampledValue": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ],
    }
    return orjson.dumps([2, uid, "TransactionEvent", payload]).decode()


async def _poll(probe: Any, ready: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    value = None
    while time.monotonic() < deadline:
        value = await probe()
        if ready(value):
            return value
        await asyncio.sleep(0.3)
    raise AssertionError(f"never ready: {value}")


async def test_ended_sent_while_updated_is_unanswered_is_served_and_ends_the_session(
    stack: Stack,
) -> None:
    station = f"LENIENT-{RUN}"
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 600_000
    boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
    async with websockets.connect(stack.ws_url(station), subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        await ws.send(orjson.dumps([2, "boot", "BootNotification", boot]).decode())
        assert orjson.loads(await ws.recv())[:2] == [3, "boot"]
        await ws.send(_event("Started", "s", t0, 0.0, 0))
        assert orjson.loads(await ws.recv())[:2] == [3, "s"]
        # Updated and Ended back to back: the second is sent before the first is answered.
        await ws.send(_event("Updated", "u", t0 + 300_000, 5_000.0, 1))
        await ws.send(_event("Ended", "e", t0 + 400_000, 10_000.0, 2))
        answers = [orjson.loads(await ws.recv()) for _ in range(2)]
    assert [a[:2] for a in answers] == [[3, "u"], [3, "e"]]

    frames = await stack.read_frames({station}, 9)
    calls = {f.uid: f for f in frames if f.kind == "call" and f.dir == "in"}
    assert (calls["e"].flag, calls["e"].err) == ("ConcurrentCall", "")
    assert calls["u"].flag == ""

    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:

        async def transaction() -> dict[str, Any]:
            resp = await api.get(f"/api/v1/transactions/{station}/tx-c")
            return resp.json() if resp.status_code == 200 else {}

        tx = await _poll(transaction, lambda t: t.get("state") == "ended")
    assert tx["energy_wh"] == 10_000.0

    async with httpx.AsyncClient(base_url=stack.clickhouse_url, timeout=10) as ch:

        async def flags() -> list[Any]:
            query = (
                f"SELECT uid, flag FROM ocpp_frames FINAL WHERE station = '{station}' "
                "AND kind = 'call' AND dir = 'in' ORDER BY ts, uid FORMAT JSONCompactEachRow"
            )
            text = (await ch.post("/", content=query)).text.strip()
            return [orjson.loads(line) for line in text.splitlines()]

        rows = await _poll(flags, lambda r: len(r) == 4)
    assert ["e", "ConcurrentCall"] in rows
    assert ["u", ""] in rows
