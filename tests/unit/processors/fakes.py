"""In-memory stores with the processors' store Protocols (no mocks: real behaviour in dicts).

The read models' own in-memory implementations (csms.readmodels), with the counters these tests
read; the 1.6 inference state is no read model and keeps its own.
"""

from __future__ import annotations

from csms.domain.device_model import DeviceModel
from csms.domain.inference16 import ConnectorState
from csms.domain.model import Transaction
from csms.domain.status import StationState
from csms.readmodels.bills import MemoryBills
from csms.readmodels.device_models import MemoryDeviceModels, decode_device_model
from csms.readmodels.stations import MemoryStations
from csms.readmodels.transactions import MemoryTransactions


class MemoryTransactionStore(MemoryTransactions):
    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    async def save(self, tx: Transaction, previous: Transaction | None = None) -> None:
        self.saves += 1
        await super().save(tx, previous)


class MemoryStationStore(MemoryStations):
    def __init__(self) -> None:
        super().__init__()
        self.station_writes: list[dict[str, str]] = []

    async def save_station(self, state: StationState, changed: dict[str, str]) -> None:
        self.station_writes.append(changed)
        await super().save_station(state, changed)


class MemoryDeviceModelStore(MemoryDeviceModels):
    """Models kept as JSON, as in Redis, so a model that does not survive its round trip shows."""

    def __init__(self) -> None:
        super().__init__()
        self.model_writes = 0

    def model(self, station: str) -> DeviceModel | None:
        raw = self.models.get(station)
        return None if raw is None else decode_device_model(station, raw)

    async def save_model(self, model: DeviceModel) -> None:
        self.model_writes += 1
        await super().save_model(model)


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


MemoryBillingStore = MemoryBills
