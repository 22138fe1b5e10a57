"""In-memory stores with the processors' store Protocols (no mocks: real behaviour in dicts)."""

from __future__ import annotations

from typing import Any

import orjson

from csms.domain.device_model import CallContext, DeviceModel
from csms.domain.inference16 import ConnectorState
from csms.domain.model import ConnectorStatus, Transaction
from csms.domain.status import StationState, connector_field, connector_json
from csms.domain.transactions import ACTIVE, PendingStart, RemoteStartSent, life_ms


class MemoryTransactionStore:
    def __init__(self) -> None:
        self.txs: dict[str, Transaction] = {}
        self.pending: dict[tuple[str, str, str], PendingStart] = {}
        self.remotes: dict[tuple[str, str], RemoteStartSent] = {}
        self.saves = 0

    async def active_keys(self, station: str) -> list[str]:
        return sorted(
            k for k, tx in self.txs.items() if tx.station == station and tx.state == ACTIVE
        )

    async def stale_keys(self, before_ms: int, limit: int) -> list[str]:
        active = [tx for tx in self.txs.values() if tx.state == ACTIVE]
        stale = sorted((life_ms(tx), tx.key) for tx in active if life_ms(tx) <= before_ms)
        return [key for _, key in stale[:limit]]

    async def load_remote(self, station: str, ref: str) -> RemoteStartSent | None:
        return self.remotes.get((station, ref))

    async def save_remote(self, remote: RemoteStartSent) -> None:
        self.remotes[(remote.station, remote.ref)] = remote

    async def drop_remote(self, station: str, ref: str) -> None:
        self.remotes.pop((station, ref), None)

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

    async def save_station(self, state: StationState, changed: dict[str, str]) -> None:
        self.station_writes.append(changed)
        self.stations.setdefault(state.station, {}).update(changed)

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None:
        return self.connectors.get(station, {}).get(field)

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None:
        by_field = self.connectors.setdefault(status.station, {})
        by_field[connector_field(status)] = connector_json(status, received_ms)


class MemoryDeviceModelStore:
    """Models kept as JSON, as in Redis, so a model that does not survive its round trip shows."""

    def __init__(self) -> None:
        self.models: dict[str, bytes] = {}
        self.calls: dict[tuple[str, str, str], CallContext] = {}
        self.model_writes = 0

    def model(self, station: str) -> DeviceModel | None:
        raw = self.models.get(station)
        return None if raw is None else DeviceModel.from_dict(orjson.loads(raw))

    async def load_model(self, station: str) -> DeviceModel | None:
        return self.model(station)

    async def save_model(self, model: DeviceModel) -> None:
        self.model_writes += 1
        self.models[model.station] = orjson.dumps(model.to_dict())

    async def load_call(self, station: str, conn: str, uid: str) -> CallContext | None:
        return self.calls.get((station, conn, uid))

    async def save_call(self, station: str, conn: str, uid: str, call: CallContext) -> None:
        self.calls[(station, conn, uid)] = call

    async def drop_call(self, station: str, conn: str, uid: str) -> None:
        self.calls.pop((station, conn, uid), None)


class MemoryInferenceStore:
    def __init__(self) -> None:
        self.models: dict[str, str] = {}
        self.states: dict[str, dict[int, ConnectorState]] = {}

    async def load(self, station: str) -> tuple[str, dict[int, ConnectorState]]:
        return self.models.get(station, ""), dict(self.states.get(station, {}))

    async def save(self, station: str, model: str | None, states: list[ConnectorState]) -> None:
        if model is not None:
            self.models[station] = model
        self.states.setdefault(station, {}).update({st.connector_id: st for st in states})


class MemoryBillingStore:
    """csms.projections.billing.BillingStore in dicts."""

    def __init__(self) -> None:
        self.bills: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}

    async def load_bill(self, key: str) -> dict[str, Any] | None:
        state = self.bills.get(key)
        return None if state is None else orjson.loads(orjson.dumps(state))

    async def save_bill(self, key: str, state: dict[str, Any]) -> None:
        self.bills[key] = orjson.loads(orjson.dumps(state))  # what Redis would keep

    async def save_checkpoint(self, key: str, checkpoint: dict[str, Any] | None) -> None:
        if checkpoint is None:
            self.checkpoints.pop(key, None)
        else:
            self.checkpoints[key] = orjson.loads(orjson.dumps(checkpoint))
