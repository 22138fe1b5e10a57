"""Frames folded the way `csms replay` folds them (the processors' own steps), into any Redis
client (a real one, or csms.infra.memory_redis): for the replay's tests and the folds' fuzzing."""

from __future__ import annotations

from typing import cast

from csms.envelope import FrameEnvelope
from csms.projections.stores import RedisClient
from csms.projections.wiring import build_processors
from csms.settings import Settings, Topics
from services.replay.fold import Fold, PolicyInterleave, Record, fold_all

TOPICS = Topics(prefix="unit-replay.")
SETTINGS = Settings(topics=TOPICS)


class ListOutputs:
    """What the fold publishes, in order: (topic, key, value)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))


def records(envs: list[FrameEnvelope], topic: str = TOPICS.frames) -> list[Record]:
    return [Record(topic, e.key(), e.ts, i, e.encode()) for i, e in enumerate(envs)]


async def fold_into(
    client: object, envs: list[FrameEnvelope], policy: tuple[FrameEnvelope, ...] = ()
) -> tuple[ListOutputs, Fold]:
    outputs = ListOutputs()
    fold = Fold(build_processors(SETTINGS, outputs, lambda _: cast(RedisClient, client)))
    decisions = PolicyInterleave(records(list(policy), TOPICS.policy))
    await fold_all(fold, iter([records(envs)]), decisions)
    return outputs, fold
