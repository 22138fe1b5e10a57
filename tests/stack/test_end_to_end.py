"""The whole event path on the real stack: real OCPP chargers -> gateway -> Kafka -> processors
and analytics sink -> Redis, ClickHouse -> operator API and ClickHouse's HTTP interface."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx
import orjson
import pytest

from loadtests.charger_sessions import SessionReport, session_16, session_201
from tests.stack.conftest import Stack
from tests.stack.sink_helpers import settled

GATEWAYS = {"gw-e2e-1", "gw-e2e-2"}  # `csms up` runs GATEWAY_PROCESSES=2 here (conftest)

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
async def sessions(stack: Stack) -> dict[str, SessionReport]:
    url = f"{stack.gateway_url}/ocpp"
    r16, r201 = await asyncio.gather(session_16(url, "CP-1"), session_201(url, "CP-2"))
    return {"CP-1": r16, "CP-2": r201}


async def test_every_frame_is_in_kafka_in_order_with_the_envelope(
    stack: Stack, sessions: dict[str, SessionReport]
) -> None:
    for station, report in sessions.items():
        # connect + (call, result) per CALL + disconnect
        expected = 2 + 2 * len(report.calls)
        frames = await stack.read_frames({station}, expected)
        assert len(frames) == expected
        kinds = [(f.dir, f.kind, f.action) for f in frames]
        assert kinds[0] == ("in", "connect", "")
        assert kinds[-1] == ("in", "disconnect", "")
        calls = kinds[1:-1]
        assert calls[0::2] == [("in", "call", a) for a in report.calls]
        assert calls[1::2] == [("out", "result", a) for a in report.calls]
        for f in frames:
            assert f.proto == report.proto
            assert f.gw == frames[0].gw and f.gw in GATEWAYS
            assert f.conn == frames[0].conn
            assert f.id and f.ts > 0
        for call, result in zip(frames[1:-1:2], frames[2:-1:2], strict=True):
            assert call.uid == result.uid
            assert orjson.loads(call.frame)[0] == 2
            assert orjson.loads(result.frame)[0] == 3
        assert sorted(f.ts for f in frames) == [f.ts for f in frames]


async def test_meter_values_are_queryable_in_clickhouse(
    stack: Stack, sessions: dict[str, SessionReport]
) -> None:
    async with httpx.AsyncClient(base_url=stack.clickhouse_url) as ch:

        async def count(station: str) -> int:
            q = f"SELECT count() FROM meter_values FINAL WHERE station = '{station}'"
            return int((await ch.get("/", params={"query": q})).text.strip() or 0)

        for station, report in sessions.items():
            # 1.6 StopTransaction carries no transactionData here, so rows = samples sent.
            assert await settled(partial(count, station), report.samples) == report.samples
        q = (
            "SELECT max(value) FROM meter_values FINAL WHERE station = 'CP-1' "
            "AND measurand = 'Energy.Active.Import.Register' FORMAT JSONEachRow"
        )
        row = orjson.loads((await ch.post("/", content=q)).text)
        assert row["max(value)"] == sessions["CP-1"].meter_stop_wh - 500
        q = (
            "SELECT evse, connector, transaction_id, unit, context FROM meter_values FINAL "
            "WHERE station = 'CP-2' ORDER BY ts FORMAT JSONEachRow"
        )
        rows = [orjson.loads(line) for line in (await ch.post("/", content=q)).text.splitlines()]
        assert rows[0] == {
            "evse": 1,
            "connector": 1,
            "transaction_id": sessions["CP-2"].transaction_id,
            "unit": "Wh",
            "context": "Transaction.Begin",
        }
        assert rows[-1]["context"] == "Transaction.End"


async def test_transactions_are_served_by_the_api_with_their_energy(
    stack: Stack, sessions: dict[str, SessionReport]
) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers) as api:
        for station, report in sessions.items():

            async def ended(s: str = station) -> list[tuple[str, str, float]]:
                resp = await api.get("/api/v1/transactions", params={"station_id": s})
                assert resp.status_code == 200
                items = resp.json()["items"]
                return [(t["transaction_id"], t["state"], t["energy_wh"]) for t in items]

            expected = [(report.transaction_id, "ended", report.energy_wh)]
            assert await settled(ended, expected) == expected


async def test_stations_are_served_with_protocol_and_status(
    stack: Stack, sessions: dict[str, SessionReport]
) -> None:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers) as api:

        async def station_view(station: str) -> tuple[Any, ...]:
            resp = await api.get(f"/api/v1/stations/{station}")
            if resp.status_code != 200:
                return ()
            body = resp.json()
            return (body["protocol"], body["online"], body["vendor"])

        assert await settled(lambda: station_view("CP-1"), ("ocpp1.6", False, "VendorA"))
        assert await settled(lambda: station_view("CP-2"), ("ocpp2.0.1", False, "VendorB"))
        listing = (await api.get("/api/v1/stations")).json()
        assert {"CP-1", "CP-2"} <= {s["id"] for s in listing["items"]}
        missing = await api.get("/api/v1/stations/NOPE")
        assert missing.status_code == 404


async def test_transactions_and_status_history_land_in_clickhouse(
    stack: Stack, sessions: dict[str, SessionReport]
) -> None:
    async with httpx.AsyncClient(base_url=stack.clickhouse_url) as ch:

        async def rows(query: str) -> list[dict[str, Any]]:
            text = (await ch.post("/", content=query + " FORMAT JSONEachRow")).text
            return [orjson.loads(line) for line in text.splitlines()]

        for station, report in sessions.items():
            q = (
                "SELECT transaction_id, state, energy_wh, proto FROM transactions FINAL "
                f"WHERE station = '{station}'"
            )
            expected = [
                {
                    "transaction_id": report.transaction_id,
                    "state": "ended",
                    "energy_wh": report.energy_wh,
                    "proto": report.proto,
                }
            ]
            assert await settled(partial(rows, q), expected) == expected
        q = (
            "SELECT status FROM status_events FINAL WHERE station = 'CP-1' AND evse = 1 "
            "ORDER BY ts, event_id"
        )
        expected_statuses = [{"status": s} for s in ("Available", "Preparing", "Charging")]
        history = await settled(lambda: rows(q), [*expected_statuses, {"status": "Available"}])
        assert [r["status"] for r in history] == ["Available", "Preparing", "Charging", "Available"]
        q = "SELECT count() AS n FROM ocpp_frames FINAL WHERE station IN ('CP-1', 'CP-2')"
        frames = 4 + 2 * sum(len(r.calls) for r in sessions.values())
        assert await settled(lambda: rows(q), [{"n": frames}]) == [{"n": frames}]
