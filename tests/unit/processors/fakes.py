"""In-memory stores with the processors' store Protocols (no mocks: real behaviour in dicts)."""

from __future__ import annotations

from typing import Any

from csms.domain.model import ConnectorStatus, Transaction
from csms.domain.status import StationState, connector_field, connector_json
from csms.domain.transactions import PendingStart


class MemoryTransactionStore:
    def __init__(self) -> None:
        self.txs: dict[str, Transaction] = {}
        self.pending: dict[tuple[str, str, str], PendingStart] = {}
        self.saves = 0

    async def load(self, key: str) -> Transaction | None:
        return self.txs.get(key)

    async def save(self, tx: Transaction) -> None:
        self.saves += 1
        self.txs[tx.key] = tx

    async def load_pending(self, station: str, conn: str, uid: str) -> PendingStart | None:
        return self.pending.get((station, conn, uid))

    async def save_pending(self, pending: PendingStart) -> None:
        self.pending[(pending.station, pending.conn, pending.uid)] = pending

    async def drop_pending(self, station: str, conn: str, uid: str) -> None:
        self.pending.pop((station, conn, uid), None)


class MemoryStationStore:
    def __init__(self) -> None:
        self.stations: dict[str, dict[str, str]] = {}
        self.connectors: dict[str, dict[str, dict[str, Any]]] = {}
        self.station_writes: list[dict[str, str]] = []

    async def load_station(self, station: str) -> StationState | None:
        fields = self.stations.get(station)
        return StationState.from_fields(station, fields) if fields else None

    async def save_station(self, station: str, changed: dict[str, str]) -> None:
        self.station_writes.append(changed)
        self.stations.setdefault(station, {}).update(changed)

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None:
        return self.connectors.get(station, {}).get(field)

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None:
        by_field = self.connectors.setdefault(status.station, {})
        by_field[connector_field(status)] = connector_json(status, received_ms)
