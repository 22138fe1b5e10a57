"""The tariffs read model: codec round trips, lenient decoding, Redis and memory alike. (The Redis
store's concurrency and resolution rules: tests/unit/infra/test_tariff_store.py.)"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from csms.domain.tariffs import Tariff, TariffError, parse_tariff
from csms.readmodels.tariffs import (
    ASSIGNMENTS_KEY,
    History,
    MemoryTariffs,
    RedisTariffs,
    TariffExists,
    TariffNotFound,
    Tariffs,
    decode_assignments,
    decode_history,
    decode_tariff,
    decode_versions,
    encode_history,
    encode_tariff,
    tariff_key,
)
from tests.unit.readmodels.strategies import PROPERTY, ms, text

T0 = 1_738_324_800_000
HOUR = 3_600_000
prices = st.decimals(min_value=0, max_value=1000, places=4).map(str)
periods = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["night", "peak"]),
        "days": st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True),
        "start": st.sampled_from(["00:00", "06:30", "22:00"]),
        "end": st.sampled_from(["00:00", "07:00", "18:15"]),
        "energy_per_kwh": prices,
    }
)


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff:
    body: dict[str, Any] = {
        "id": draw(st.text("ABCDEFGHIJ-_0123456789", min_size=1, max_size=20)),
        "currency": draw(st.sampled_from(["EUR", "USD", "JPY", "CHF"])),
        "version": draw(st.integers(1, 50)),
        "valid_from_ms": draw(ms),
        "description": draw(text),
        "energy_per_kwh": draw(prices),
        "session_fee": draw(prices),
        "tax_rate": draw(st.decimals(min_value=0, max_value="0.99", places=2).map(str)),
        "timezone": draw(st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"])),
        "periods": draw(st.lists(periods, max_size=2)),
    }
    if draw(st.booleans()):
        body["min_price"], body["max_price"] = "0.50", "99.00"
    return parse_tariff(body)


histories = st.lists(
    st.tuples(ms, st.none() | st.text("ABC", min_size=1, max_size=3)).map(list), max_size=5
)


@PROPERTY
@given(tariffs())
def test_tariff_round_trip(tariff: Tariff) -> None:
    assert decode_tariff(encode_tariff(tariff)) == tariff


@PROPERTY
@given(histories)
def test_history_round_trip(history: History) -> None:
    assert decode_history("group:G", encode_history(history)) == history


@pytest.mark.parametrize("raw", ["{not json", "[[1]]", '[["1", "T"]]', "[[1, 2]]", '{"a": 1}'])
def test_unreadable_histories_are_none_and_logged(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert decode_history("group:G", raw) is None
    assert "unreadable tariff assignment 'group:G'" in caplog.text


def test_unreadable_versions_are_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    good = parse_tariff({"id": "T", "currency": "EUR", "version": 2})
    raw = {"1": '{"id": "T", "currency": "euro"}', "2": encode_tariff(good), "3": "[]"}
    assert decode_versions(raw) == [good]
    assert "unreadable tariff version 'T'" in caplog.text and "not a JSON object" in caplog.text
    assert decode_assignments({b"default": b"[[1, null]]", "bad": "{"}) == {"default": [[1, None]]}


# --- the same contract over Redis and in memory ------------------------------------------------


async def _refused(store: Tariffs, body: dict[str, Any]) -> tuple[bool, bool]:
    """(creating a taken id raised TariffExists, updating an unknown one TariffNotFound)"""
    with pytest.raises(TariffExists):
        await store.create(body, T0)
    with pytest.raises(TariffNotFound):
        await store.update("X", body, T0)
    return True, True


async def _scenario(store: Tariffs) -> tuple[object, ...]:
    body = {"id": "STD", "currency": "EUR", "energy_per_kwh": "0.30"}
    await store.create(body, T0)
    await store.create({**body, "id": "NIGHT", "energy_per_kwh": "0.10"}, T0)
    v2 = await store.update("STD", {**body, "energy_per_kwh": "0.40"}, T0 + HOUR)
    await store.assign("default", tariff_id="STD", now_ms=T0)
    await store.assign("evse", station="CP-1", evse=2, tariff_id="NIGHT", now_ms=T0)
    await store.assign("evse", station="CP-1", evse=2, tariff_id=None, now_ms=T0 + 2 * HOUR)
    with pytest.raises(TariffNotFound):
        await store.assign("default", tariff_id="NOPE", now_ms=T0)
    with pytest.raises(TariffError):
        await store.assign("evse", tariff_id="STD", now_ms=T0)  # no station
    return (
        v2,
        await _refused(store, body),
        await store.versions("STD"),
        await store.versions("NOPE"),
        await store.get("STD"),
        await store.get("STD", 1),
        await store.get("STD", 3),
        await store.list(),
        await store.assignments(),
        await store.history("evse:CP-1:2"),
        await store.history("group:NONE"),
        await store.resolve_with_key("CP-1", 2, None, T0 + HOUR),
        await store.resolve_with_key("CP-1", 2, None, T0 + 3 * HOUR),
        await store.resolve("CP-2", 1, "FLEET", T0 - HOUR),
    )


async def test_redis_and_memory_behave_the_same(redis: Redis) -> None:
    in_redis = await _scenario(RedisTariffs(redis))
    assert in_redis == await _scenario(MemoryTariffs())
    v2, *_, evse_then, default_later, _ = in_redis
    assert isinstance(v2, Tariff) and (v2.version, v2.energy_per_kwh) == (2, Decimal("0.40"))
    assert isinstance(evse_then, tuple) and evse_then[0] == "evse:CP-1:2"
    assert (evse_then[1].id, evse_then[1].version) == ("NIGHT", 1)
    assert isinstance(default_later, tuple) and default_later[0] == "default"  # unassigned


async def test_redis_writes_the_documented_layout(redis: Redis) -> None:
    store = RedisTariffs(redis)
    tariff = await store.create({"id": "L", "currency": "EUR"}, T0)
    await store.assign("group", group="G", tariff_id="L", now_ms=T0)
    assert await redis.hgetall(tariff_key("L")) == {"1": encode_tariff(tariff).decode()}
    assert await redis.hgetall(ASSIGNMENTS_KEY) == {"group:G": f'[[{T0},"L"]]'}
