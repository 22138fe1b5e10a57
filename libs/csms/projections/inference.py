"""The 1.6 inference step: 2.0.1-style transaction events from 1.6 frames (csms.domain.inference16).

State per station in one Redis hash `csms:inf16:<station>` (csms.infra.redis_keys.inference16):
field "<connectorId>" -> JSON of ConnectorState, field "_model" -> "<vendor>\t<model>" of the
station's last 1.6 BootNotification, which picks its vendor rules. The model is tracked here,
from the frames this step folds, rather than read from the status projection's hash: another
agent's progress would make a replay give other events than the live run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import orjson

from csms.domain import inference16 as inf
from csms.envelope import FrameEnvelope
from csms.infra import redis_keys
from csms.projections.stores import RedisClient
from csms.readmodels.base import object_cache
from csms.text import as_text

log = logging.getLogger(__name__)

MODEL_FIELD = "_model"


class InferenceStore(Protocol):
    async def load(self, station: str) -> tuple[str, dict[int, inf.ConnectorState]]:
        """(the station's "<vendor>\\t<model>", its connectors' states)."""

    async def save(
        self, station: str, model: str | None, states: list[inf.ConnectorState]
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class StationInference:
    """A station's inference hash, decoded: its "<vendor>\t<model>" and connector states."""

    model: str
    states: Mapping[int, inf.ConnectorState]

    def to_fields(self) -> dict[str, str]:
        out = {str(cid): orjson.dumps(st.to_dict()).decode() for cid, st in self.states.items()}
        if self.model:
            out[MODEL_FIELD] = self.model
        return out

    @classmethod
    def from_fields(cls, station: str, fields: Mapping[Any, Any]) -> StationInference:
        """Lenient: an unreadable connector state starts afresh (logged)."""
        model = ""
        states: dict[int, inf.ConnectorState] = {}
        for name, raw in fields.items():
            if as_text(name) == MODEL_FIELD:
                model = as_text(raw)
                continue
            try:
                states[int(name)] = inf.ConnectorState.from_dict(orjson.loads(raw))
            except (ValueError, TypeError):
                log.warning("unreadable inference state %s/%s: starting it afresh", station, name)
        return cls(model, states)


class RedisInferenceStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._cache = object_cache(redis)

    async def load(self, station: str) -> tuple[str, dict[int, inf.ConnectorState]]:
        found = await self._load(station)
        return found.model, dict(found.states)

    async def save(self, station: str, model: str | None, states: list[inf.ConnectorState]) -> None:
        key = redis_keys.inference16(station)
        if self._cache is not None:
            # The write-behind copy keeps the decoded hash and writes its fields at the flush:
            # no JSON per connector per frame.
            old = await self._load(station)
            new = StationInference(
                old.model if model is None else model,
                {**old.states, **{st.connector_id: st for st in states}},
            )
            self._cache.set_hash_object(key, new, StationInference.to_fields)
            return
        mapping = StationInference(model or "", {st.connector_id: st for st in states}).to_fields()
        if mapping:
            await self._redis.hset(key, mapping=mapping)  # type: ignore[arg-type]

    async def _load(self, station: str) -> StationInference:
        key = redis_keys.inference16(station)
        decode = partial(StationInference.from_fields, station)
        if self._cache is not None:
            found = await self._cache.get_hash_object(key, decode)
            return found if found is not None else StationInference("", {})
        return decode(await self._redis.hgetall(key))


def load_rules(path: str) -> inf.RulesRegistry:
    """The vendor rules file (JSON, RulesRegistry.from_dict); none = the default rules."""
    if not path:
        return inf.RulesRegistry()
    return inf.RulesRegistry.from_dict(orjson.loads(Path(path).read_bytes()))


async def project_inference(
    env: FrameEnvelope, store: InferenceStore, registry: inf.RulesRegistry
) -> list[dict[str, Any]]:
    """Fold one envelope into its 1.6 station's connector states; the events to publish."""
    if not inf.relevant(env):
        return []
    model, states = await store.load(env.station)
    boot = inf.boot_model(env)
    new_model = None if boot is None else "\t".join(boot)
    rules = registry.rules_for(*(new_model or model or "\t").split("\t", 1))
    changed, events = inf.infer_station(states, env, rules)
    if changed or (new_model is not None and new_model != model):
        await store.save(env.station, new_model if new_model != model else None, changed)
    return [inf.event_record(e) for e in events]
