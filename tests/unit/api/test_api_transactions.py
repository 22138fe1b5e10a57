"""Transaction list and detail over a real Redis seeded with the processors' layout."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from csms.infra import redis_keys as keys
from tests.unit.api.api_seed import T0, make_tx, put_transaction

MINUTE = 60_000


async def _seed(redis: Redis) -> None:
    """CP-A: three sessions (one still active); CP-B: one 1.6 session, started in between."""
    await put_transaction(
        redis,
        make_tx(
            "CP-A", "tx-1", T0, evse=1, connector=1, id_token="TOK1", state="ended",
            ended_ms=T0 + 30 * MINUTE, meter_start_wh=1000.0, meter_stop_wh=8500.0,
            energy_wh=7500.0, stop_reason="EVDisconnected",
        ),
    )  # fmt: skip
    await put_transaction(
        redis,
        make_tx(
            "CP-A", "tx-3", T0 + 120 * MINUTE, evse=2, connector=1, id_token="TOK3",
            meter_start_wh=0.0, energy_wh=1234.5,
        ),
    )  # fmt: skip
    await put_transaction(
        redis,
        make_tx(
            "CP-A", "tx-2", T0 + 60 * MINUTE, evse=1, connector=1, id_token="TOK2",
            state="ended", ended_ms=T0 + 90 * MINUTE, meter_start_wh=8500.0,
            meter_stop_wh=9000.0, energy_wh=500.0, stop_reason="Local",
        ),
    )  # fmt: skip
    await put_transaction(
        redis,
        make_tx(
            "CP-B", "42", T0 + 75 * MINUTE, proto="ocpp1.6", evse=1, connector=1,
            id_token="TAG", meter_start_wh=10.0, energy_wh=20.0,
        ),
    )  # fmt: skip


async def test_by_station_newest_first_with_energy(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    resp = await api.get("/api/v1/transactions", params={"station_id": "CP-A"})
    assert resp.status_code == 200
    body = resp.json()
    assert [t["transaction_id"] for t in body["items"]] == ["tx-3", "tx-2", "tx-1"]
    assert [t["energy_wh"] for t in body["items"]] == [1234.5, 500.0, 7500.0]
    assert (body["total"], body["next_offset"], body["limit"], body["offset"]) == (3, None, 100, 0)
    assert body["items"][2] == {
        "transaction_id": "tx-1",
        "station": "CP-A",
        "proto": "ocpp2.0.1",
        "evse": 1,
        "connector": 1,
        "id_token": "TOK1",
        "state": "ended",
        "started": "2025-01-31T12:00:00.000Z",
        "ended": "2025-01-31T12:30:00.000Z",
        "meter_start_wh": 1000.0,
        "meter_stop_wh": 8500.0,
        "energy_wh": 7500.0,
        "stop_reason": "EVDisconnected",
        "updated": "2025-01-31T12:00:00.000Z",
        # A read model written before these facts existed: empty, never an error.
        "charging_state": None,
        "trigger_reason": None,
        "offline": False,
        "remote_start_id": None,
        "remote_start_uid": None,
        "closed_by": None,
        "flags": [],
        "charging_periods": [],
        "missing_seq_nos": [],
    }
    active = body["items"][0]
    assert (active["state"], active["ended"], active["meter_stop_wh"]) == ("active", None, None)


async def test_network_wide_newest_first(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    body = (await api.get("/api/v1/transactions")).json()
    assert [(t["station"], t["transaction_id"]) for t in body["items"]] == [
        ("CP-A", "tx-3"),
        ("CP-B", "42"),
        ("CP-A", "tx-2"),
        ("CP-A", "tx-1"),
    ]
    assert body["total"] == 4


async def test_state_filter(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    active = (await api.get("/api/v1/transactions", params={"state": "active"})).json()
    assert [t["transaction_id"] for t in active["items"]] == ["tx-3", "42"]
    assert active["total"] is None
    ended = (
        await api.get("/api/v1/transactions", params={"state": "ended", "station_id": "CP-A"})
    ).json()
    assert [t["transaction_id"] for t in ended["items"]] == ["tx-2", "tx-1"]


async def test_pagination(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    first = (await api.get("/api/v1/transactions", params={"limit": 3})).json()
    assert [t["transaction_id"] for t in first["items"]] == ["tx-3", "42", "tx-2"]
    assert first["next_offset"] == 3
    rest = (await api.get("/api/v1/transactions", params={"limit": 3, "offset": 3})).json()
    assert [t["transaction_id"] for t in rest["items"]] == ["tx-1"]
    assert rest["next_offset"] is None
    ended = (
        await api.get("/api/v1/transactions", params={"state": "ended", "limit": 1, "offset": 1})
    ).json()
    assert [t["transaction_id"] for t in ended["items"]] == ["tx-1"]
    assert ended["next_offset"] is None


async def test_unknown_station_has_no_transactions(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    body = (await api.get("/api/v1/transactions", params={"station_id": "CP-Z"})).json()
    assert (body["items"], body["total"]) == ([], 0)


async def test_dangling_index_entry_is_skipped(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    await redis.delete(keys.transaction("CP-A/tx-2"))
    body = (await api.get("/api/v1/transactions", params={"station_id": "CP-A"})).json()
    assert [t["transaction_id"] for t in body["items"]] == ["tx-3", "tx-1"]


async def test_detail(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    resp = await api.get("/api/v1/transactions/CP-B/42")
    assert resp.status_code == 200
    body = resp.json()
    assert (body["station"], body["transaction_id"], body["proto"]) == ("CP-B", "42", "ocpp1.6")
    assert (body["energy_wh"], body["id_token"], body["state"]) == (20.0, "TAG", "active")


async def test_unknown_transaction_is_404(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed(redis)
    for path in ("/api/v1/transactions/CP-B/43", "/api/v1/transactions/CP-A/42"):
        resp = await api.get(path)
        assert resp.status_code == 404
        assert resp.json()["error"] == "transaction_not_found"
    resp = await api.get("/api/v1/transactions/CP-B/43")
    assert resp.json()["detail"] == "no transaction '43' at station 'CP-B'"


async def test_invalid_params_are_422(api: httpx.AsyncClient) -> None:
    for params in ({"state": "paused"}, {"limit": 5000}, {"offset": -5}, {"station_id": ""}):
        resp = await api.get("/api/v1/transactions", params=params)
        assert resp.status_code == 422, params
        assert resp.json()["error"] == "invalid_request"
