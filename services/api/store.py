"""The API's reads of the processors' read models: through their contracts in csms.readmodels
(keys, decoders, Redis implementations), mapped to response models by services.api.views.

Every list read is one round trip for the keys and one pipelined round trip for their values,
never one round trip per item.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from csms.domain.device_model import DeviceModel
from csms.domain.status import StationState
from csms.domain.transactions import tx_key
from csms.readmodels.device_models import DeviceModels, RedisDeviceModels
from csms.readmodels.stations import RedisStations, StationReads
from csms.readmodels.transactions import RedisTransactions, TransactionReads
from services.api.schemas import StationDetail, StationSummary, TransactionView
from services.api.views import station_detail, station_summary, transaction_view


class ReadModelStore:
    """The API's view of the read models; holds no state besides the clients."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._stations: StationReads = RedisStations(redis)
        self._transactions: TransactionReads = RedisTransactions(redis)
        self._device_models: DeviceModels = RedisDeviceModels(redis)

    async def ping(self) -> None:
        await self._redis.ping()

    async def station_ids(self) -> list[str]:
        """Every known station id, sorted: the stable order of the station list."""
        return await self._stations.station_ids()

    async def station_summaries(self, station_ids: Sequence[str]) -> list[StationSummary | None]:
        return [station_summary(s) for s in await self._stations.summaries(station_ids)]

    async def station(self, station_id: str) -> StationDetail | None:
        """The station with its connector tree; None if the network has never seen it."""
        record = await self._stations.record(station_id)
        return station_detail(record) if record.seen else None

    async def device_model(
        self, station_id: str
    ) -> tuple[DeviceModel | None, StationState | None, bool]:
        """(the stored device model, the live station facts, whether the network has seen the
        station)."""
        model = await self._device_models.load_model(station_id)
        record = await self._stations.record(station_id)
        return model, record.state, model is not None or record.seen

    async def transaction_keys(self, station_id: str | None, start: int, count: int) -> list[str]:
        """`count` transaction keys from position `start`, newest first (by start time)."""
        return await self._transactions.keys(station_id, start, count)

    async def transaction_count(self, station_id: str | None) -> int:
        return await self._transactions.count(station_id)

    async def transactions(self, tx_keys: Sequence[str]) -> list[TransactionView | None]:
        """The transactions of `tx_keys`, in order; None where missing or unreadable."""
        found = await self._transactions.many(tx_keys)
        return [None if tx is None else transaction_view(tx) for tx in found]

    async def transaction(self, station_id: str, transaction_id: str) -> TransactionView | None:
        tx = await self._transactions.get(tx_key(station_id, transaction_id))
        return None if tx is None else transaction_view(tx)
