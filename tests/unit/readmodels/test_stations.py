"""The stations read model: codec round trips, lenient decoding, Redis and memory alike."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from csms.domain.model import ConnectorStatus
from csms.domain.status import StationState, connector_field
from csms.projections.status import StationStore
from csms.readmodels.stations import (
    MemoryStations,
    RedisStations,
    StationReads,
    StationRecord,
    StoredConnector,
    connectors_key,
    decode_connector,
    decode_connectors,
    decode_station,
    encode_connector,
    encode_station,
    station_key,
)
from tests.unit.readmodels.strategies import PROPERTY, ids, ms, small, text

states = st.builds(
    StationState,
    station=ids,
    protocol=text,
    online=st.booleans(),
    last_seen=ms,
    gateway=text,
    conn=text,
    vendor=text,
    model=text,
    firmware=text,
    serial=text,
    boot_ts=ms,
    connected_ts=ms,
    disconnected_ts=ms,
)
statuses = st.builds(
    ConnectorStatus,
    station=ids,
    evse=small,
    connector=small,
    status=text,
    error_code=text,
    ts_ms=ms,
    proto=text,
    event_id=text,
)


@PROPERTY
@given(states)
def test_station_round_trip(state: StationState) -> None:
    assert decode_station(state.station, encode_station(state)) == state


@PROPERTY
@given(statuses, ms)
def test_connector_round_trip(status: ConnectorStatus, received_ms: int) -> None:
    raw = encode_connector(status, received_ms)
    found = decode_connector(status.station, connector_field(status), raw)
    assert found == StoredConnector(status, received_ms)
    # Bytes, as a client without decode_responses returns them, read the same.
    assert decode_connector(status.station, connector_field(status), raw.encode()) == found


def test_a_station_without_a_hash_is_none_and_bad_fields_take_defaults() -> None:
    assert decode_station("CP-1", {}) is None
    state = decode_station("CP-1", {b"online": b"1", "last_seen": "soon", "vendor": "ACME"})
    assert state == StationState("CP-1", online=True, vendor="ACME")


def test_malformed_connector_entries_are_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    found = decode_connectors(
        "CP-1",
        {
            "1/1": "{not json",
            "2/1": '["a list"]',
            "x/y": '{"status": "Available"}',
            "3/1": '{"status": "Occupied", "ts_ms": "5000", "received_ms": true}',
        },
    )
    assert [(c.status.evse, c.status.connector, c.status.ts_ms) for c in found] == [(3, 1, 5000)]
    assert found[0].received_ms is None  # a bool is no receive time
    assert "not a JSON object" in caplog.text and "no evse/connector ids" in caplog.text


def test_both_implementations_are_the_processors_store_and_the_apis_reads(redis: Redis) -> None:
    # What mypy checks here: both classes have both contracts.
    stores: list[StationStore] = [RedisStations(redis), MemoryStations()]
    reads: list[StationReads] = [RedisStations(redis), MemoryStations()]
    assert len(stores) == len(reads)


# --- the same contract over Redis and in memory ------------------------------------------------


async def _scenario(
    store: RedisStations | MemoryStations,
) -> tuple[object, ...]:
    a = StationState("CP-A", "ocpp2.0.1", online=True, last_seen=2000, vendor="V", boot_ts=1000)
    await store.save_station(a, a.changed_fields(None))
    b = StationState("CP-B", "ocpp1.6", last_seen=500)
    await store.save_station(b, b.changed_fields(None))
    later = StationState("CP-A", "ocpp2.0.1", online=False, last_seen=3000, vendor="V")
    await store.save_station(later, later.changed_fields(a))
    for evse, connector, status in ((1, 1, "Occupied"), (0, 0, "Available"), (1, 2, "Faulted")):
        cs = ConnectorStatus("CP-A", evse, connector, status, "", 1500, "ocpp2.0.1", f"e{evse}")
        await store.save_connector(cs, 1600 + connector)
    return (
        await store.station_ids(),
        await store.summaries(["CP-B", "CP-A", "CP-NONE"]),
        await store.record("CP-A"),
        await store.record("CP-NONE"),
        await store.load_station("CP-A"),
        await store.load_station("CP-NONE"),
        await store.load_connector("CP-A", "1/2"),
        await store.load_connector("CP-A", "9/9"),
    )


async def test_redis_and_memory_behave_the_same(redis: Redis) -> None:
    in_redis, in_memory = await _scenario(RedisStations(redis)), await _scenario(MemoryStations())
    assert in_redis == in_memory
    ids_, summaries, record, unseen, *_ = in_redis
    assert ids_ == ["CP-A", "CP-B"]
    assert [s.online for s in summaries] == [False, False, False]  # type: ignore[attr-defined]
    assert isinstance(record, StationRecord) and record.seen and len(record.connectors) == 3
    assert unseen == StationRecord("CP-NONE", None, (), seen=False)


async def test_redis_writes_the_documented_layout(redis: Redis) -> None:
    state = StationState("CP-L", "ocpp1.6", online=True, last_seen=42)
    await RedisStations(redis).save_station(state, state.changed_fields(None))
    status = ConnectorStatus("CP-L", 2, 1, "Charging", "NoError", 7, "ocpp1.6", "ev-1")
    await RedisStations(redis).save_connector(status, 8)
    assert await redis.hgetall(station_key("CP-L")) == state.to_fields()
    assert await redis.hgetall(connectors_key("CP-L")) == {"2/1": encode_connector(status, 8)}
