"""Station list and detail over a real Redis seeded with the processors' layout."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from tests.unit.api.api_seed import T0, put_station, put_status, station_fields

PROTOCOLS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


async def _seed_network(redis: Redis, count: int) -> list[str]:
    """`count` stations; every third is offline; protocols rotate. Inserted out of order."""
    ids = [f"CP-{i:03d}" for i in range(count)]
    for i in reversed(range(count)):
        fields = station_fields(
            PROTOCOLS[i % 3],
            online=i % 3 != 0,
            last_seen=T0 + i,
            vendor="ACME",
            model=f"M{i % 2}",
            firmware="1.2.3",
        )
        await put_station(redis, ids[i], fields)
    return ids


async def test_list_is_ordered_by_id_with_summary_fields(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    ids = await _seed_network(redis, 5)
    resp = await api.get("/api/v1/stations")
    assert resp.status_code == 200
    body = resp.json()
    assert [s["id"] for s in body["items"]] == ids
    assert body["items"][1] == {
        "id": "CP-001",
        "protocol": "ocpp2.0.1",
        "online": True,
        "last_seen": "2025-01-31T12:00:00.001Z",
        "vendor": "ACME",
        "model": "M1",
        "firmware": "1.2.3",
        "registration_status": None,
    }
    assert (body["limit"], body["offset"], body["total"]) == (100, 0, 5)
    assert body["next_offset"] is None
    assert body["next_cursor"] is None


async def test_empty_network(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/v1/stations")).json()
    assert body["items"] == []
    assert body["total"] == 0


async def test_offset_pagination(redis: Redis, api: httpx.AsyncClient) -> None:
    ids = await _seed_network(redis, 7)
    first = (await api.get("/api/v1/stations", params={"limit": 3})).json()
    assert [s["id"] for s in first["items"]] == ids[:3]
    assert first["next_offset"] == 3
    last = (await api.get("/api/v1/stations", params={"limit": 3, "offset": 6})).json()
    assert [s["id"] for s in last["items"]] == ids[6:]
    assert last["next_offset"] is None
    assert last["next_cursor"] is None


async def test_cursor_pagination_walks_every_station_once(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    ids = await _seed_network(redis, 11)
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 4}
    for _ in range(10):
        body = (await api.get("/api/v1/stations", params=params)).json()
        seen += [s["id"] for s in body["items"]]
        if body["next_cursor"] is None:
            break
        params = {"limit": 4, "cursor": body["next_cursor"]}
        assert body["offset"] in (0, None)
    assert seen == ids


async def test_cursor_survives_stations_added_before_it(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    ids = await _seed_network(redis, 6)
    first = (await api.get("/api/v1/stations", params={"limit": 3})).json()
    await put_station(redis, "CP-000a", station_fields("ocpp1.6", online=True, last_seen=T0))
    second = (
        await api.get("/api/v1/stations", params={"limit": 3, "cursor": first["next_cursor"]})
    ).json()
    # an offset would now repeat CP-002; the cursor resumes right after it
    assert [s["id"] for s in second["items"]] == ids[3:]


async def test_filter_online_and_protocol(redis: Redis, api: httpx.AsyncClient) -> None:
    await _seed_network(redis, 9)
    online = (await api.get("/api/v1/stations", params={"online": "true"})).json()
    assert [s["id"] for s in online["items"]] == [
        "CP-001", "CP-002", "CP-004", "CP-005", "CP-007", "CP-008"
    ]  # fmt: skip
    assert all(s["online"] for s in online["items"])
    assert online["total"] is None
    offline = (await api.get("/api/v1/stations", params={"online": "false"})).json()
    assert [s["id"] for s in offline["items"]] == ["CP-000", "CP-003", "CP-006"]
    v201_online = (
        await api.get("/api/v1/stations", params={"online": "true", "protocol": "ocpp2.0.1"})
    ).json()
    assert [s["id"] for s in v201_online["items"]] == ["CP-001", "CP-004", "CP-007"]


async def test_filtered_pages_by_offset_and_cursor_agree(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    await _seed_network(redis, 30)
    params: dict[str, str | int] = {"online": "true", "limit": 4}
    first = (await api.get("/api/v1/stations", params=params)).json()
    assert first["next_offset"] == 4
    by_offset = (await api.get("/api/v1/stations", params={**params, "offset": 4})).json()
    by_cursor = (
        await api.get("/api/v1/stations", params={**params, "cursor": first["next_cursor"]})
    ).json()
    assert [s["id"] for s in by_offset["items"]] == ["CP-007", "CP-008", "CP-010", "CP-011"]
    assert by_cursor["items"] == by_offset["items"]
    assert by_cursor["offset"] is None
    assert by_cursor["next_offset"] is None  # cursor mode continues with cursors


async def test_station_without_hash_is_listed_offline(redis: Redis, api: httpx.AsyncClient) -> None:
    await put_station(redis, "CP-NEW", {})
    body = (await api.get("/api/v1/stations")).json()
    assert body["items"] == [
        {
            "id": "CP-NEW",
            "protocol": None,
            "online": False,
            "last_seen": None,
            "vendor": None,
            "model": None,
            "firmware": None,
            "registration_status": None,
        }
    ]


async def test_invalid_list_params_are_422_with_error_shape(api: httpx.AsyncClient) -> None:
    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"online": "maybe"},
        {"protocol": "ocpp9"},
        {"limit": "ten"},
    ):
        resp = await api.get("/api/v1/stations", params=params)
        assert resp.status_code == 422, params
        body = resp.json()
        assert body["error"] == "invalid_request"
        assert set(body) == {"error", "detail"}
        assert str(next(iter(params))) in body["detail"]


async def test_cursor_errors(api: httpx.AsyncClient) -> None:
    both = await api.get("/api/v1/stations", params={"offset": 1, "cursor": "Q1AtMDAx"})
    assert both.status_code == 422
    assert both.json()["error"] == "invalid_request"
    bad = await api.get("/api/v1/stations", params={"cursor": "_w"})
    assert bad.status_code == 422
    assert bad.json() == {
        "error": "invalid_cursor",
        "detail": "cursor is not one this API returned",
    }


async def test_detail_has_tree_and_station_status(redis: Redis, api: httpx.AsyncClient) -> None:
    fields = station_fields(
        "ocpp2.0.1",
        online=True,
        last_seen=T0 + 5000,
        vendor="ACME",
        model="X",
        firmware="2.0",
        serial="SN-1",
        gateway="gw-a",
        conn="conn-1",
        boot_ts=str(T0 + 10),
        connected_ts=str(T0),
    )
    await put_station(redis, "CP-9", fields)
    await put_status(redis, "CP-9", 0, 0, "Available", T0 + 1)
    await put_status(redis, "CP-9", 2, 1, "Occupied", T0 + 4000)
    await put_status(redis, "CP-9", 1, 2, "Faulted", T0 + 3000)
    await put_status(redis, "CP-9", 1, 1, "Available", T0 + 2000)

    resp = await api.get("/api/v1/stations/CP-9")
    assert resp.status_code == 200
    assert resp.json() == {
        "id": "CP-9",
        "protocol": "ocpp2.0.1",
        "online": True,
        "last_seen": "2025-01-31T12:00:05.000Z",
        "vendor": "ACME",
        "model": "X",
        "firmware": "2.0",
        "serial": "SN-1",
        "gateway": "gw-a",
        "connection_id": "conn-1",
        "has_password": False,
        "registration_status": None,
        "boot_time": "2025-01-31T12:00:00.010Z",
        "connected_at": "2025-01-31T12:00:00.000Z",
        "disconnected_at": None,
        "station_status": {
            "status": "Available",
            "error_code": None,
            "updated": "2025-01-31T12:00:00.001Z",
        },
        "evses": [
            {
                "evse_id": 1,
                "connectors": [
                    {
                        "connector_id": 1,
                        "status": "Available",
                        "error_code": None,
                        "updated": "2025-01-31T12:00:02.000Z",
                    },
                    {
                        "connector_id": 2,
                        "status": "Faulted",
                        "error_code": None,
                        "updated": "2025-01-31T12:00:03.000Z",
                    },
                ],
            },
            {
                "evse_id": 2,
                "connectors": [
                    {
                        "connector_id": 1,
                        "status": "Occupied",
                        "error_code": None,
                        "updated": "2025-01-31T12:00:04.000Z",
                    }
                ],
            },
        ],
    }


async def test_detail_of_disconnected_16_station(redis: Redis, api: httpx.AsyncClient) -> None:
    fields = station_fields(
        "ocpp1.6", online=False, last_seen=T0, disconnected_ts=str(T0 + 1), connected_ts=str(T0)
    )
    await put_station(redis, "Säule 7", fields)
    await put_status(redis, "Säule 7", 1, 1, "Unavailable", T0, proto="ocpp1.6")
    await put_status(
        redis, "Säule 7", 2, 1, "Faulted", T0, proto="ocpp1.6", error_code="GroundFailure"
    )
    body = (await api.get("/api/v1/stations/Säule 7")).json()
    assert body["id"] == "Säule 7"
    assert body["online"] is False
    assert body["disconnected_at"] == "2025-01-31T12:00:00.001Z"
    assert body["station_status"] is None
    assert [(e["evse_id"], e["connectors"]) for e in body["evses"]] == [
        (1, [{"connector_id": 1, "status": "Unavailable", "error_code": "NoError",
              "updated": "2025-01-31T12:00:00.000Z"}]),
        (2, [{"connector_id": 1, "status": "Faulted", "error_code": "GroundFailure",
              "updated": "2025-01-31T12:00:00.000Z"}]),
    ]  # fmt: skip


async def test_unknown_station_is_404_with_error_shape(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    await _seed_network(redis, 2)
    resp = await api.get("/api/v1/stations/CP-404")
    assert resp.status_code == 404
    assert resp.json() == {"error": "station_not_found", "detail": "no station with id 'CP-404'"}
