"""The device models read model: each station's DeviceModel (csms.domain.device_model) and the
device-model step's own working state (CSMS CALLs awaiting the answer it folds).

Keys (writer: the processors' device-model step; readers: the API, the billing and the gateway
(what a station can display: csms.domain.session_bill.cost_display)):
* `csms:dm:<station>` string: JSON of DeviceModel.to_dict() - the Station -> EVSE -> Connector
  tree, variables, metrics, report progress. Its info fields online/last_seen may lag: the
  station hash (csms.readmodels.stations) is the live source of those.
* `csms:dmcall:<station>:<conn>:<uid>` string, TTL 1 h: JSON {action, payload} of a CSMS CALL
  whose answer the fold needs (GetConfiguration, ChangeConfiguration, GetVariables,
  SetVariables): a 1.6 ChangeConfiguration or 2.x SetVariables answer only says "Accepted", the
  value set is in the CALL.
"""

from __future__ import annotations

import logging
from typing import Protocol

import orjson

from csms.domain.device_model import CallContext, DeviceModel
from csms.readmodels.base import PREFIX, RedisReadModel, json_object, load_object, save_object

log = logging.getLogger(__name__)

# How long a CALL waits for its answer; the gateway gives up on answers long before.
CALL_TTL_S = 3600


def device_model_key(station_id: str) -> str:
    """String: JSON of the station's DeviceModel."""
    return f"{PREFIX}:dm:{station_id}"


def device_call_key(station_id: str, conn: str, uid: str) -> str:
    """String, expires: JSON {action, payload} of a CSMS CALL awaiting its answer."""
    return f"{PREFIX}:dmcall:{station_id}:{conn}:{uid}"


# --- codec ---------------------------------------------------------------------------------------


def encode_device_model(model: DeviceModel) -> bytes:
    return model.to_json()


def decode_device_model(station: str, raw: str | bytes) -> DeviceModel | None:
    """The stored model of `station`; None (logged) when unreadable or another station's (the
    processors then rebuild it from the frames that follow rather than blocking them)."""
    data = json_object(raw, f"device model of {station!r}")
    if data is None:
        return None
    try:
        model = DeviceModel.from_dict(data)
    except (ValueError, TypeError, AttributeError):
        log.warning("unreadable device model of %r: ignored", station)
        return None
    if model.station != station:
        log.warning("device model stored for %r is %r's: ignored", station, model.station)
        return None
    return model


def encode_call(call: CallContext) -> bytes:
    return orjson.dumps({"action": call.action, "payload": dict(call.payload)})


def decode_call(raw: str | bytes) -> CallContext | None:
    data = json_object(raw, "device-model CALL")
    if data is None:
        return None
    action, payload = data.get("action"), data.get("payload")
    if not isinstance(action, str) or not isinstance(payload, dict):
        return None
    return CallContext(action, payload)


# --- the contract --------------------------------------------------------------------------------


class DeviceModels(Protocol):
    """The device-model step's store (its writes and the calls it keeps) and what readers load."""

    async def load_model(self, station: str) -> DeviceModel | None: ...

    async def save_model(self, model: DeviceModel) -> None: ...

    async def load_call(self, station: str, conn: str, uid: str) -> CallContext | None: ...

    async def save_call(self, station: str, conn: str, uid: str, call: CallContext) -> None: ...

    async def drop_call(self, station: str, conn: str, uid: str) -> None: ...


# --- Redis ---------------------------------------------------------------------------------------


class RedisDeviceModels(RedisReadModel):
    """On Redis, on the processors' write-behind copy (a model decoded once per batch and encoded
    once at the flush) or on the replay's in-memory Redis."""

    async def load_model(self, station: str) -> DeviceModel | None:
        def decode(raw: str | bytes) -> DeviceModel | None:
            return decode_device_model(station, raw)

        return await load_object(self._redis, self._cache, device_model_key(station), decode)

    async def save_model(self, model: DeviceModel) -> None:
        key = device_model_key(model.station)
        await save_object(self._redis, self._cache, key, model, encode_device_model)

    async def load_call(self, station: str, conn: str, uid: str) -> CallContext | None:
        raw = await self._redis.get(device_call_key(station, conn, uid))
        return None if raw is None else decode_call(raw)

    async def save_call(self, station: str, conn: str, uid: str, call: CallContext) -> None:
        key = device_call_key(station, conn, uid)
        await self._redis.set(key, encode_call(call), ex=CALL_TTL_S)

    async def drop_call(self, station: str, conn: str, uid: str) -> None:
        await self._redis.delete(device_call_key(station, conn, uid))


# --- in memory -----------------------------------------------------------------------------------


class MemoryDeviceModels:
    """Models kept encoded, as in Redis, so a model that does not survive its round trip shows;
    calls as their objects (no expiry)."""

    def __init__(self) -> None:
        self.models: dict[str, bytes] = {}
        self.calls: dict[tuple[str, str, str], CallContext] = {}

    async def load_model(self, station: str) -> DeviceModel | None:
        raw = self.models.get(station)
        return None if raw is None else decode_device_model(station, raw)

    async def save_model(self, model: DeviceModel) -> None:
        self.models[model.station] = encode_device_model(model)

    async def load_call(self, station: str, conn: str, uid: str) -> CallContext | None:
        return self.calls.get((station, conn, uid))

    async def save_call(self, station: str, conn: str, uid: str, call: CallContext) -> None:
        self.calls[(station, conn, uid)] = call

    async def drop_call(self, station: str, conn: str, uid: str) -> None:
        self.calls.pop((station, conn, uid), None)
