"""Station ids and pagination cursors as they reach Redis: no station id names another station's
key, and a cursor is a position in the station list, never a key.

The read models put a station's sub-keys under its own key (`csms:station:<id>:txs`), so the id
`<id>:txs` would name them; csms.protocol.station_path refuses every such suffix, for the
gateway, the CLI and the API. The suffixes are found here from the key functions themselves, so
a sub-key added tomorrow without its suffix fails this test."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType

import httpx
import pytest
from redis.asyncio import Redis

import csms.readmodels
from csms.infra import redis_keys
from csms.protocol.station_path import RESERVED_SUFFIXES, InvalidStationPath, check_station_id
from csms.readmodels.stations import station_key
from services.api.pagination import decode_cursor, encode_cursor
from tests.unit.api.api_seed import T0, put_station, station_fields


def _modules() -> Iterator[ModuleType]:
    yield redis_keys
    for info in pkgutil.iter_modules(csms.readmodels.__path__):
        yield importlib.import_module(f"csms.readmodels.{info.name}")


def _one_id_key_functions() -> Iterator[Callable[[str], str]]:
    for module in _modules():
        for _, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ and module is not redis_keys:
                continue
            parameters = list(inspect.signature(function).parameters.values())
            if len(parameters) == 1 and parameters[0].annotation in ("str", str):
                yield function


def test_every_sub_key_of_a_station_key_has_its_suffix_reserved() -> None:
    own = station_key("CP-1")
    suffixes = set()
    for function in _one_id_key_functions():
        key = function("CP-1")
        if isinstance(key, str) and key.startswith(own + ":"):
            suffixes.add(key[len(own) :])
    assert suffixes == set(RESERVED_SUFFIXES)


@pytest.mark.parametrize("station", ["CP-1:txs", "CP-1:connectors", "CP-1:active_txs", ":txs"])
def test_ids_ending_in_a_sub_key_suffix_are_no_station_ids(station: str) -> None:
    with pytest.raises(InvalidStationPath) as refused:
        check_station_id(station)
    assert "CP-1" not in str(refused.value)  # the message never echoes the input


@pytest.mark.parametrize("station", ["txs", "CP-1:txs2", "CP-1:TXS", "site:7:evse", "*", "a|b@c"])
def test_other_ids_with_colons_stay_valid(station: str) -> None:
    assert check_station_id(station) == station


@pytest.mark.parametrize("cursor", ["*", "../", "%2e%2e", "Q1AtMQ==", "Q1A+MQ", " Q1AtMQ", "_w"])
def test_only_cursors_the_api_made_decode(cursor: str) -> None:
    # urlsafe_b64decode alone skips characters outside its alphabet: `*` decoded to "".
    assert decode_cursor(cursor) is None


async def test_a_crafted_cursor_is_a_position_in_the_list_not_a_key(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    for station in ("CP-1", "CP-2", "CP-3"):
        await put_station(redis, station, station_fields("ocpp1.6", online=True, last_seen=T0))
    for crafted, expected in [
        (encode_cursor("*"), ["CP-1", "CP-2", "CP-3"]),  # `*` sorts before letters
        (encode_cursor("CP-1"), ["CP-2", "CP-3"]),
        (encode_cursor("csms:station:CP-1"), []),  # sorts after "CP-…"
        (encode_cursor("CP-2:txs"), ["CP-3"]),
    ]:
        page = (await api.get("/api/v1/stations", params={"cursor": crafted})).json()
        assert [item["id"] for item in page["items"]] == expected, crafted
    refused = await api.get("/api/v1/stations", params={"cursor": "*"})
    assert (refused.status_code, refused.json()["error"]) == (422, "invalid_cursor")
