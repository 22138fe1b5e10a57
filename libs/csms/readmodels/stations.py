"""The stations read model: each station's facts (StationState) and its connectors' last status.

Keys (writer: the processors' status step; readers: the API, the processors themselves):
* `csms:stations` set: every station id the network has seen.
* `csms:station:<id>` hash: StationState.to_fields() - protocol, online "1"/"0", last_seen,
  gateway, conn, vendor, model, firmware, serial, boot_ts, connected_ts, disconnected_ts (times
  as epoch-ms text, "0" = never).
* `csms:station:<id>:connectors` hash: "<evse>/<connector>" -> JSON of the ConnectorStatus
  (csms.domain.status.connector_json) plus received_ms, the gateway's receive time that orders
  notifications. EVSE 0 / connector 0 is the station itself (1.6 connectorId 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from csms.domain.model import ConnectorStatus
from csms.domain.status import StationState, connector_field, connector_json
from csms.readmodels.base import PREFIX, RedisReadModel, int_or_none, json_object, parse_ms
from csms.text import as_text

log = logging.getLogger(__name__)

STATIONS_KEY = f"{PREFIX}:stations"


def station_key(station_id: str) -> str:
    """Hash: StationState.to_fields() (see the module docstring)."""
    return f"{PREFIX}:station:{station_id}"


def connectors_key(station_id: str) -> str:
    """Hash: "<evse>/<connector>" -> JSON of ConnectorStatus plus received_ms."""
    return f"{PREFIX}:station:{station_id}:connectors"


# The fields a station list item needs (HMGET, not the whole hash).
SUMMARY_FIELDS = ("protocol", "online", "last_seen", "vendor", "model", "firmware")


# --- codec ---------------------------------------------------------------------------------------


def encode_station(state: StationState) -> dict[str, str]:
    return state.to_fields()


def decode_station(station: str, fields: Mapping[Any, Any]) -> StationState | None:
    """The station's facts from its hash (str or bytes); None when there is no hash. Missing or
    unreadable fields take their defaults."""
    return StationState.from_fields(station, fields) if fields else None


@dataclass(frozen=True, slots=True)
class StoredConnector:
    """A connector's last status as stored, with the receive time that orders notifications
    (None when the entry lacks a usable one: written by someone else)."""

    status: ConnectorStatus
    received_ms: int | None = None


def encode_connector(status: ConnectorStatus, received_ms: int) -> str:
    return orjson.dumps(connector_json(status, received_ms)).decode()


def decode_connector_json(raw: str | bytes) -> dict[str, Any] | None:
    """A connectors-hash value as its JSON object (what the status step compares with)."""
    return json_object(raw, "connector status")


def stored_connector(station: str, field: str, entry: Mapping[str, Any]) -> StoredConnector | None:
    """The typed entry of one connectors-hash field. The JSON's own ids win; the
    "<evse>/<connector>" field name is the fallback; None (logged) without either."""
    evse_part, _, connector_part = field.partition("/")
    evse = int_or_none(entry.get("evse"))
    connector = int_or_none(entry.get("connector"))
    evse = evse if evse is not None else int_or_none(evse_part)
    connector = connector if connector is not None else int_or_none(connector_part)
    if evse is None or connector is None:
        log.warning("connector status %r of %r has no evse/connector ids: ignored", field, station)
        return None
    error_code = entry.get("error_code")
    received = entry.get("received_ms")
    status = ConnectorStatus(
        station=station,
        evse=evse,
        connector=connector,
        status=str(entry.get("status") or ""),
        error_code="" if error_code in (None, "") else str(error_code),
        ts_ms=parse_ms(entry.get("ts_ms")) or 0,
        proto=str(entry.get("proto") or ""),
        event_id=str(entry.get("event_id") or ""),
    )
    usable = isinstance(received, int) and not isinstance(received, bool)
    return StoredConnector(status, received if usable else None)


def decode_connector(station: str, field: str, raw: str | bytes) -> StoredConnector | None:
    entry = decode_connector_json(raw)
    return None if entry is None else stored_connector(station, field, entry)


def decode_connectors(station: str, fields: Mapping[Any, Any]) -> list[StoredConnector]:
    """Every readable entry of a connectors hash, by EVSE and connector (unreadable ones are
    skipped)."""
    found = (decode_connector(station, as_text(field), raw) for field, raw in fields.items())
    return _ordered(found)


def _ordered(found: Iterable[StoredConnector | None]) -> list[StoredConnector]:
    # A hash has no order of its own.
    kept = (c for c in found if c is not None)
    return sorted(kept, key=lambda c: (c.status.evse, c.status.connector))


# --- what readers get ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StationRecord:
    """What the read model holds about one station. `seen`: anything at all is stored (the hash,
    a connector, or the id in the station set)."""

    station: str
    state: StationState | None
    connectors: tuple[StoredConnector, ...] = ()
    seen: bool = False

    @property
    def facts(self) -> StationState:
        """The station's facts, defaults where nothing is stored."""
        return self.state if self.state is not None else StationState(self.station)


class StationReads(Protocol):
    """What the API reads. The processors' writes are csms.projections.status.StationStore
    (load_station, save_station, load_connector, save_connector), which both classes below
    implement too."""

    async def station_ids(self) -> list[str]:
        """Every station id the network has seen, sorted."""
        ...

    async def summaries(self, station_ids: Sequence[str]) -> list[StationState]:
        """The list fields (SUMMARY_FIELDS) of each station, defaults where nothing is stored."""
        ...

    async def record(self, station_id: str) -> StationRecord: ...


# --- Redis ---------------------------------------------------------------------------------------


class RedisStations(RedisReadModel):
    """On Redis, on the processors' write-behind copy (the hash parsed once per batch and written
    once at the flush) or on the replay's in-memory Redis."""

    async def load_station(self, station: str) -> StationState | None:
        key = station_key(station)
        if self._cache is not None:
            return await self._cache.get_hash_object(key, lambda f: decode_station(station, f))
        return decode_station(station, await self._redis.hgetall(key))

    async def save_station(self, state: StationState, changed: dict[str, str]) -> None:
        key = station_key(state.station)
        if self._cache is not None:
            # Every field at the flush (the same hash in the end), nothing converted per frame.
            self._cache.set_hash_object(key, state, encode_station)
            await self._redis.sadd(STATIONS_KEY, state.station)
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=changed)  # type: ignore[arg-type]
            pipe.sadd(STATIONS_KEY, state.station)
            await pipe.execute()

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None:
        raw = await self._redis.hget(connectors_key(station), field)
        return None if raw is None else decode_connector_json(raw)

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None:
        field = connector_field(status)
        await self._redis.hset(
            connectors_key(status.station), field, encode_connector(status, received_ms)
        )

    async def station_ids(self) -> list[str]:
        return sorted(as_text(m) for m in await self._redis.smembers(STATIONS_KEY))

    async def summaries(self, station_ids: Sequence[str]) -> list[StationState]:
        if not station_ids:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for station_id in station_ids:
                pipe.hmget(station_key(station_id), list(SUMMARY_FIELDS))
            rows: list[list[Any]] = await pipe.execute()
        return [
            StationState.from_fields(
                station_id,
                {f: v for f, v in zip(SUMMARY_FIELDS, row, strict=True) if v is not None},
            )
            for station_id, row in zip(station_ids, rows, strict=True)
        ]

    async def record(self, station_id: str) -> StationRecord:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(station_key(station_id))
            pipe.hgetall(connectors_key(station_id))
            pipe.sismember(STATIONS_KEY, station_id)
            fields, connectors, listed = await pipe.execute()
        return StationRecord(
            station_id,
            decode_station(station_id, fields),
            tuple(decode_connectors(station_id, connectors)),
            seen=bool(fields or connectors or listed),
        )


# --- in memory -----------------------------------------------------------------------------------


class MemoryStations:
    """In dicts, holding what Redis would: hash fields as text, connector entries as their JSON
    objects."""

    def __init__(self) -> None:
        self.stations: dict[str, dict[str, str]] = {}
        self.connectors: dict[str, dict[str, dict[str, Any]]] = {}
        self.listed: set[str] = set()

    async def load_station(self, station: str) -> StationState | None:
        return decode_station(station, self.stations.get(station, {}))

    async def save_station(self, state: StationState, changed: dict[str, str]) -> None:
        self.stations.setdefault(state.station, {}).update(changed)
        self.listed.add(state.station)

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None:
        return self.connectors.get(station, {}).get(field)

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None:
        by_field = self.connectors.setdefault(status.station, {})
        by_field[connector_field(status)] = connector_json(status, received_ms)

    async def station_ids(self) -> list[str]:
        return sorted(self.listed)

    async def summaries(self, station_ids: Sequence[str]) -> list[StationState]:
        out = []
        for station_id in station_ids:
            fields = self.stations.get(station_id, {})
            kept = {f: fields[f] for f in SUMMARY_FIELDS if f in fields}
            out.append(StationState.from_fields(station_id, kept))
        return out

    async def record(self, station_id: str) -> StationRecord:
        fields = self.stations.get(station_id, {})
        entries = self.connectors.get(station_id, {})
        connectors = (stored_connector(station_id, f, e) for f, e in entries.items())
        return StationRecord(
            station_id,
            decode_station(station_id, fields),
            tuple(_ordered(connectors)),
            seen=bool(fields or entries or station_id in self.listed),
        )
