"""The JSON form of the device model's parts (DeviceModel.to_dict / from_dict use these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from csms.domain.device_model.parts import (
    Attribute,
    ConnectorNode,
    Event,
    EvseNode,
    Fault,
    Monitor,
    Status,
    Variable,
)
from csms.domain.frames import as_dict, as_int


def _dump_map(items: Mapping[str, Any]) -> dict[str, Any]:
    return {k: asdict(v) for k, v in items.items()}


def _dump_evse(node: EvseNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "status": None if node.status is None else asdict(node.status),
        "faults": _dump_map(node.faults),
        "connectors": {str(k): asdict(c) for k, c in node.connectors.items()},
    }


def _dump_variable(var: Variable) -> dict[str, Any]:
    return asdict(var)


def _load(cls: Any, d: Any) -> Any:
    """A flat dataclass from a dict; unknown keys (a newer writer's fields) are ignored."""
    data = as_dict(d)
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _load_opt(cls: Any, d: Any) -> Any:
    return None if d is None else _load(cls, d)


def _load_map(cls: Any, d: Any) -> dict[str, Any]:
    return {str(k): _load(cls, v) for k, v in as_dict(d).items()}


def _load_connector(d: Any) -> ConnectorNode:
    data = as_dict(d)
    return ConnectorNode(
        id=as_int(data.get("id")) or 0,
        status=_load_opt(Status, data.get("status")),
        faults=_load_map(Fault, data.get("faults")),
    )


def _load_evse(d: Any) -> EvseNode:
    data = as_dict(d)
    return EvseNode(
        id=as_int(data.get("id")) or 0,
        status=_load_opt(Status, data.get("status")),
        faults=_load_map(Fault, data.get("faults")),
        connectors={int(k): _load_connector(v) for k, v in as_dict(data.get("connectors")).items()},
    )


def _load_variable(d: Any) -> Variable:
    data = as_dict(d)
    var: Variable = _load(Variable, data)
    var.attributes = _load_map(Attribute, data.get("attributes"))
    var.characteristics = dict(as_dict(data.get("characteristics")))
    var.monitors = _load_map(Monitor, data.get("monitors"))
    var.last_event = _load_opt(Event, data.get("last_event"))
    return var
