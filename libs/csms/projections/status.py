"""The status projection's step: the station's facts and its connectors' last status, folded
with the pure domain (csms.domain.status); the connector statuses that changed are returned for
the agent to publish.

The store is a Protocol so the same step runs against Redis in production (csms.readmodels
through csms.projections.stores) and against in-memory read models in unit tests.
"""

from __future__ import annotations

from typing import Any, Protocol

from csms.domain.model import ConnectorStatus
from csms.domain.status import (
    StationState,
    apply_station,
    connector_field,
    connector_statuses,
    status_verdict,
)
from csms.envelope import FrameEnvelope


class StationStore(Protocol):
    async def load_station(self, station: str) -> StationState | None: ...

    async def save_station(self, state: StationState, changed: dict[str, str]) -> None: ...

    async def load_connector(self, station: str, field: str) -> dict[str, Any] | None: ...

    async def save_connector(self, status: ConnectorStatus, received_ms: int) -> None: ...


async def project_status(env: FrameEnvelope, store: StationStore) -> list[ConnectorStatus]:
    """Apply one envelope to the station read model; the connector statuses to publish."""
    if env.kind not in ("connect", "disconnect") and env.dir != "in":
        return []  # what the CSMS sends tells nothing about the station
    before = await store.load_station(env.station)
    after = apply_station(before, env)
    changed = after.changed_fields(before)
    if changed:
        await store.save_station(after, changed)
    published = []
    for status in connector_statuses(env):
        stored = await store.load_connector(env.station, connector_field(status))
        verdict = status_verdict(status, env.ts, stored)
        if verdict == "apply":
            await store.save_connector(status, env.ts)
        if verdict != "skip":
            published.append(status)
    return published
