"""The device-model step: each station's DeviceModel (csms.domain.device_model) kept in Redis
(the read model csms.readmodels.device_models: its keys, codec and store).

The step keeps a CSMS CALL whose answer the fold needs (GetConfiguration, ChangeConfiguration,
GetVariables, SetVariables) until the answer comes: a 1.6 ChangeConfiguration or 2.x
SetVariables answer only says "Accepted", the value set is in the CALL. The gateway stores the
CALL on Kafka before it sends it, so in the station's partition the CALL comes before its answer.

Most frames only move the station's last_seen (heartbeats, authorizations, transactions), which
the station hash of the status step already tracks: those are skipped without reading the
model, and a fold that changes nothing else (a duplicate, an older fact) writes nothing. The
API merges online/last_seen from the station hash.

Station passwords never reach the read model (analysts read it): values of write-only attributes
and of SecurityCtrlr.BasicAuthPassword (1.6 AuthorizationKey maps to it) are blanked, and a CALL
setting one is not kept.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from csms.commands.config_keys import V16_TO_V2
from csms.domain.device_model import CallContext, DeviceModel, Variable, apply
from csms.domain.frames import as_dict, as_list, as_str, id_text, inbound_call, outbound_call
from csms.envelope import FrameEnvelope
from csms.projections.stores import RedisClient, as_redis
from csms.readmodels.device_models import DeviceModels, RedisDeviceModels

# CSMS CALLs whose answers the fold reads (their CALL is kept until the answer comes).
ANSWERED_CALLS = frozenset(
    {"GetConfiguration", "ChangeConfiguration", "GetVariables", "SetVariables"}
)
# Station CALLs the fold reads beyond last_seen; any other one is skipped unread.
FOLDED_CALLS = frozenset(
    {
        "BootNotification",
        "StatusNotification",
        "NotifyReport",
        "NotifyMonitoringReport",
        "NotifyEvent",
        "MeterValues",
    }
)
# (component, variable), lower case, whose values are secrets whatever their mutability says.
SECRET_VARIABLES = frozenset({("securityctrlr", "basicauthpassword")})
# The step's store: the read model's contract (loads and saves the model, keeps the CALLs).
DeviceModelStore = DeviceModels


async def project_device_model(env: FrameEnvelope, store: DeviceModelStore) -> bool:
    """Fold one envelope into its station's device model; True when the stored model changed."""
    if not env.station:
        return False
    if env.kind == "call" and env.dir == "out":
        call = kept_call(env)
        if call is not None:
            await store.save_call(env.station, env.conn, env.uid, call)
        return False
    if not folds(env):
        return False
    answered = env.kind == "result"
    call = await store.load_call(env.station, env.conn, env.uid) if answered else None
    before = await store.load_model(env.station)
    after = redact(apply(before, env, call))
    changed = before is None or material_change(before, after)
    if changed:
        await store.save_model(after)
    if call is not None:
        # Dropped only once the model is saved: a crash in between redelivers the answer, which
        # then still finds its CALL.
        await store.drop_call(env.station, env.conn, env.uid)
    return changed


def kept_call(env: FrameEnvelope) -> CallContext | None:
    """The CSMS CALL of an outbound envelope, when the fold will need it for the answer."""
    found = outbound_call(env) if env.action in ANSWERED_CALLS else None
    if found is None or found[0] != env.action:
        return None
    action, payload = found
    if action == "ChangeConfiguration" and _secret_key(as_str(payload.get("key"))):
        return None
    if action == "SetVariables":
        data = [d for d in as_list(payload.get("setVariableData")) if not _secret_data(d)]
        payload = {**payload, "setVariableData": data}
    return CallContext(action, payload)


def _secret_key(key: str) -> bool:
    ref = V16_TO_V2.get(key)
    return ref is not None and (ref.component.lower(), ref.variable.lower()) in SECRET_VARIABLES


def _secret_data(item: Any) -> bool:
    data = as_dict(item)
    comp = as_str(as_dict(data.get("component")).get("name")).lower()
    var = as_str(as_dict(data.get("variable")).get("name")).lower()
    return (comp, var) in SECRET_VARIABLES


def _secret_values(var: Variable) -> bool:
    """Whether the variable holds a value that must not be kept."""
    secret = (var.component.lower(), var.variable.lower()) in SECRET_VARIABLES
    event = var.last_event is not None and var.last_event.actual_value != ""
    return any(
        a.value is not None and (secret or a.mutability == "WriteOnly")
        for a in var.attributes.values()
    ) or (secret and event)


def redact(model: DeviceModel) -> DeviceModel:
    """The model without secret values (the same object when it holds none, the usual case)."""
    keys = [k for k, v in model.variables.items() if _secret_values(v)]
    if not keys:
        return model
    m = copy.deepcopy(model)  # the fold's output may share objects with its input
    for key in keys:
        var = m.variables[key]
        secret = (var.component.lower(), var.variable.lower()) in SECRET_VARIABLES
        for attr in var.attributes.values():
            if secret or attr.mutability == "WriteOnly":
                attr.value = None
        if secret and var.last_event is not None:
            var.last_event.actual_value = ""
    return m


def folds(env: FrameEnvelope) -> bool:
    """Whether the fold may change more than online/last_seen for this envelope."""
    if env.kind in ("connect", "disconnect"):
        return True
    if env.dir != "in" or env.err:
        return False
    if env.kind == "result":
        return env.action in ANSWERED_CALLS
    if env.kind != "call" or env.action not in FOLDED_CALLS:
        return False
    if env.action == "MeterValues":
        # Samples of a (1.6) transaction belong to the transaction; read the id, not every
        # sample (the fold flattens them once, if at all).
        found = inbound_call(env)
        return found is not None and not id_text(found[1].get("transactionId"))
    return True


def material_change(before: DeviceModel, after: DeviceModel) -> bool:
    """Whether `after` differs from `before` in more than info.online / info.last_seen."""
    if after is before:
        return False
    for f in dataclasses.fields(DeviceModel):
        if f.name == "info":
            continue
        old, new = getattr(before, f.name), getattr(after, f.name)
        if old is not new and old != new:
            return True
    info = dataclasses.replace(
        before.info, online=after.info.online, last_seen=after.info.last_seen
    )
    return info != after.info


class RedisDeviceModelStore(RedisDeviceModels):
    """The device models read model on an agent's client."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(as_redis(redis))
