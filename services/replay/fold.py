"""The fold: every record through every processor step, exactly as the live agents run them.

Each record goes through `csms.projections.pipeline.handle_frame`, the live `frames` agent's
one pass: decoded once, then every step in order. Records of the policy topic are interleaved
with the frames of the same station by Kafka timestamp: a policy decision (a zombie close) was
taken after the frames that led to it, and the live processors folded it then; per-station
order is all that matters, since every piece of state is per station.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from csms.envelope import FrameEnvelope
from csms.infra.memory_redis import UnsupportedCommand
from csms.projections.pipeline import Processors, Step, handle_frame


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as the fold needs it."""

    topic: str
    key: bytes
    ts_ms: int
    offset: int
    value: bytes


@dataclass
class FoldStats:
    records: Counter[str] = field(default_factory=Counter)  # topic -> records folded
    failed: Counter[str] = field(default_factory=Counter)  # agent -> steps that raised
    fatal: list[str] = field(default_factory=list)  # why the fold cannot be trusted


class Fold:
    """Feeds records to every step of `processors`, counting what fails."""

    def __init__(self, processors: Processors) -> None:
        self.stats = FoldStats()
        self._steps = {name: self._guarded(name, step) for name, step in processors.steps.items()}

    def _guarded(self, agent: str, step: Step) -> Step:
        stats = self.stats

        async def guarded(env: FrameEnvelope) -> bool:
            try:
                return await step(env)
            except UnsupportedCommand as exc:
                stats.fatal.append(str(exc))
                raise
            except Exception:
                # handle_frame() logs and skips it, as live; the summary reports how many.
                stats.failed[agent] += 1
                raise

        return guarded

    async def feed(self, record: Record) -> None:
        self.stats.records[record.topic] += 1
        await handle_frame(self._steps, record.value)  # the live agent's one pass


class PolicyInterleave:
    """The policy topic's records, held per station and released in timestamp order before
    the first frame of that station with a later timestamp (policy decisions are few)."""

    def __init__(self, records: list[Record]) -> None:
        self._by_key: dict[bytes, list[tuple[int, int, Record]]] = defaultdict(list)
        for r in records:
            heapq.heappush(self._by_key[r.key], (r.ts_ms, r.offset, r))
        self.held = len(records)

    def due(self, key: bytes, ts_ms: int) -> Iterator[Record]:
        """The held records of this station up to `ts_ms`, oldest first."""
        queue = self._by_key.get(key)
        while queue and queue[0][0] <= ts_ms:
            self.held -= 1
            yield heapq.heappop(queue)[2]

    def rest(self) -> Iterator[Record]:
        """Everything still held (decisions newer than the station's last frame), by time."""
        remaining = [item for queue in self._by_key.values() for item in queue]
        self._by_key.clear()
        self.held = 0
        for _, _, r in sorted(remaining, key=lambda item: (item[0], item[1])):
            yield r


async def fold_all(
    fold: Fold, frames: Iterator[list[Record]], policy: PolicyInterleave
) -> FoldStats:
    """Fold every frame batch (policy records interleaved), then the policy records left."""
    for batch in frames:
        for record in batch:
            if policy.held:
                for decision in policy.due(record.key, record.ts_ms):
                    await fold.feed(decision)
            await fold.feed(record)
            if fold.stats.fatal:
                return fold.stats
    for decision in policy.rest():
        await fold.feed(decision)
    return fold.stats
