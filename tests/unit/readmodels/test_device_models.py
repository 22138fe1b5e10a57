"""The device models read model: codec round trips of folded models, lenient decoding, Redis and
memory alike."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from csms.domain.device_model import CallContext, DeviceModel, apply
from csms.envelope import FrameEnvelope
from csms.readmodels.device_models import (
    DeviceModels,
    MemoryDeviceModels,
    RedisDeviceModels,
    decode_call,
    decode_device_model,
    device_call_key,
    device_model_key,
    encode_call,
    encode_device_model,
)
from tests.unit.domain.builders import T0, Session, boot201, status201
from tests.unit.processors.test_device_models import report_part
from tests.unit.readmodels.strategies import PROPERTY, json_objects, small

STATUSES = ["Available", "Occupied", "Faulted", "Unavailable", "Reserved"]
VARIABLES = [("OCPPCommCtrlr", "HeartbeatInterval"), ("TxCtrlr", "EVConnectionTimeOut")]


@st.composite
def models(draw: st.DrawFn) -> DeviceModel:
    """A model as the fold makes it, from a station's boot, statuses and report parts."""
    s = Session("DM-RT", "ocpp2.0.1")
    frames: list[FrameEnvelope] = [s.connect(), s.call("BootNotification", boot201())]
    for n in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            status = draw(st.sampled_from(STATUSES))
            payload = status201(draw(small), draw(st.integers(1, 3)), status, T0 + n * 1000)
            frames.append(s.call("StatusNotification", payload))
        else:
            comp, var = draw(st.sampled_from(VARIABLES))
            item = (comp, var, str(draw(small)))
            frames.append(s.call("NotifyReport", report_part(1, n, True, item)))
    model = None
    for env in frames:
        model = apply(model, env)
    assert model is not None
    return model


@PROPERTY
@given(models())
def test_device_model_round_trip(model: DeviceModel) -> None:
    assert decode_device_model(model.station, encode_device_model(model)) == model


@PROPERTY
@given(st.sampled_from(["GetVariables", "SetVariables", "GetConfiguration"]), json_objects)
def test_call_round_trip(action: str, payload: dict[str, object]) -> None:
    assert decode_call(encode_call(CallContext(action, payload))) == CallContext(action, payload)


@pytest.mark.parametrize(
    "raw",
    [
        "{bad",
        "[]",
        orjson.dumps({"station": "OTHER"}),
        orjson.dumps({"station": "DM", "evses": {"x": {}}}),
    ],
)
def test_unreadable_or_foreign_models_are_none_and_logged(
    raw: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert decode_device_model("DM", raw) is None
    assert "device model" in caplog.text


def test_malformed_calls_are_none() -> None:
    for raw in ("{bad", '{"action": "GetVariables"}', '{"action": 1, "payload": {}}'):
        assert decode_call(raw) is None


# --- the same contract over Redis and in memory ------------------------------------------------


async def _scenario(store: DeviceModels) -> tuple[object, ...]:
    s = Session("DM-S", "ocpp2.0.1")
    model = apply(apply(None, s.connect()), s.call("BootNotification", boot201()))
    await store.save_model(model)
    call = CallContext("GetVariables", {"getVariableData": [{"component": {"name": "X"}}]})
    await store.save_call("DM-S", "c-1", "u-1", call)
    kept = await store.load_call("DM-S", "c-1", "u-1")
    await store.drop_call("DM-S", "c-1", "u-1")
    return (
        await store.load_model("DM-S"),
        await store.load_model("DM-NONE"),
        kept,
        await store.load_call("DM-S", "c-1", "u-1"),
    )


async def test_redis_and_memory_behave_the_same(redis: Redis) -> None:
    in_redis = await _scenario(RedisDeviceModels(redis))
    assert in_redis == await _scenario(MemoryDeviceModels())
    assert isinstance(in_redis[0], DeviceModel) and in_redis[0].info.vendor == "ABB"


async def test_redis_writes_the_documented_layout(redis: Redis) -> None:
    model = DeviceModel.new("DM-L")
    call = CallContext("SetVariables", {"setVariableData": []})
    await RedisDeviceModels(redis).save_model(model)
    await RedisDeviceModels(redis).save_call("DM-L", "c", "u", call)
    assert await redis.get(device_model_key("DM-L")) == orjson.dumps(model.to_dict()).decode()
    assert await redis.get(device_call_key("DM-L", "c", "u")) == encode_call(call).decode()
    assert 0 < await redis.ttl(device_call_key("DM-L", "c", "u")) <= 3600
