"""DeviceModel: the whole device model of one station, and its JSON form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from csms.domain.device_model.codec import (
    _dump_evse,
    _dump_map,
    _dump_variable,
    _load,
    _load_evse,
    _load_map,
    _load_opt,
    _load_variable,
)
from csms.domain.device_model.parts import (
    ConnectorNode,
    EvseNode,
    Fault,
    Metric,
    ReportProgress,
    Status,
    Variable,
)
from csms.domain.frames import as_dict
from csms.domain.status import StationState


@dataclass(slots=True)
class DeviceModel:
    station: str
    info: StationState
    status: Status | None = None  # the station as a whole (1.6 connectorId 0)
    faults: dict[str, Fault] = field(default_factory=dict)
    evses: dict[int, EvseNode] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    reports: dict[str, ReportProgress] = field(default_factory=dict)

    @classmethod
    def new(cls, station: str) -> DeviceModel:
        return cls(station=station, info=StationState(station=station))

    def evse(self, evse_id: int) -> EvseNode:
        """The EVSE node, created when missing (mutates: for the fold's private copy)."""
        return self.evses.setdefault(evse_id, EvseNode(evse_id))

    def connector(self, evse_id: int, connector_id: int) -> ConnectorNode:
        node = self.evse(evse_id)
        return node.connectors.setdefault(connector_id, ConnectorNode(connector_id))

    def active_faults(self) -> list[tuple[int | None, int | None, str, Fault]]:
        """(evse, connector, key, fault) of every active fault; None = station / EVSE level."""
        out: list[tuple[int | None, int | None, str, Fault]] = [
            (None, None, k, f) for k, f in self.faults.items() if f.active
        ]
        for evse in self.evses.values():
            out += [(evse.id, None, k, f) for k, f in evse.faults.items() if f.active]
            for conn in evse.connectors.values():
                out += [(evse.id, conn.id, k, f) for k, f in conn.faults.items() if f.active]
        return out

    def to_json(self) -> bytes:
        """`orjson.dumps(self.to_dict())`, byte for byte, about 10x faster: orjson writes the
        dataclasses itself, in field order, and the int keys as text (a test keeps them equal)."""
        return orjson.dumps(self, option=orjson.OPT_NON_STR_KEYS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (string keys only); from_dict is the inverse."""
        return {
            "station": self.station,
            "info": asdict(self.info),
            "status": None if self.status is None else asdict(self.status),
            "faults": _dump_map(self.faults),
            "evses": {str(k): _dump_evse(v) for k, v in self.evses.items()},
            "variables": {k: _dump_variable(v) for k, v in self.variables.items()},
            "metrics": _dump_map(self.metrics),
            "reports": _dump_map(self.reports),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeviceModel:
        station = str(d.get("station", ""))
        return cls(
            station=station,
            info=_load(StationState, {"station": station, **as_dict(d.get("info"))}),
            status=_load_opt(Status, d.get("status")),
            faults=_load_map(Fault, d.get("faults")),
            evses={int(k): _load_evse(v) for k, v in as_dict(d.get("evses")).items()},
            variables={k: _load_variable(v) for k, v in as_dict(d.get("variables")).items()},
            metrics=_load_map(Metric, d.get("metrics")),
            reports=_load_map(ReportProgress, d.get("reports")),
        )
