"""One soak sample: per process RSS, open files and CPU (psutil), each consumer group's lag
(committed offsets against the log's end, from Kafka itself) and the latencies seen since the
last sample."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

MIB = 1024 * 1024


class ProcessWatch:
    """RSS, open files and CPU share of named processes, whose pids may change (a restart)."""

    def __init__(self, pids: Callable[[], Mapping[str, int | None]]) -> None:
        self._pids = pids
        self._seen: dict[str, psutil.Process] = {}
        self.restarts: dict[str, int] = {}

    def sample(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name, pid in self._pids().items():
            proc = self._process(name, pid)
            if proc is None:
                continue
            try:
                with proc.oneshot():
                    out[name] = {
                        "pid": proc.pid,
                        "rss_mib": round(proc.memory_info().rss / MIB, 2),
                        "open_files": proc.num_fds(),
                        "cpu_pct": round(proc.cpu_percent(None), 1),
                    }
            except psutil.Error:
                self._seen.pop(name, None)
        return out

    def _process(self, name: str, pid: int | None) -> psutil.Process | None:
        if pid is None:
            return None
        known = self._seen.get(name)
        if known is not None and known.pid == pid:
            return known
        if known is not None:
            self.restarts[name] = self.restarts.get(name, 0) + 1
        try:
            proc = psutil.Process(pid)
            proc.cpu_percent(None)  # the first call starts the CPU clock
        except psutil.Error:
            return None
        self._seen[name] = proc
        return proc


class GroupLag:
    """Events each consumer group has still to read: end offsets minus committed offsets, over
    the partitions of its topics."""

    def __init__(self, bootstrap: str, groups: Mapping[str, tuple[str, Sequence[str]]]) -> None:
        self.bootstrap = bootstrap
        self.groups = groups  # label -> (group id, topics)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._ends = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()

    async def stop(self) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def sample(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label, (group, topics) in self.groups.items():
            partitions = await self._partitions(topics)
            if not partitions:
                continue  # not created yet
            committed = await self._admin.list_consumer_group_offsets(group)
            ends = await self._ends.end_offsets(partitions)
            out[label] = sum(
                max(0, ends[tp] - (committed[tp].offset if tp in committed else 0))
                for tp in partitions
            )
        return out

    async def _partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        described = await self._admin.describe_topics(list(topics))
        return [
            TopicPartition(topic["topic"], p["partition"])
            for topic in described
            if topic.get("error_code", 0) == 0
            for p in topic.get("partitions", ())
        ]


def latency_summary(seconds: list[float], prefix: str) -> dict[str, float]:
    """p50, p99, max in ms and the count of `seconds` (empty: the count only)."""
    if not seconds:
        return {f"{prefix}_n": 0}
    ms = sorted(s * 1000.0 for s in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return {
        f"{prefix}_n": len(ms),
        f"{prefix}_p50": round(statistics.median(ms), 2),
        f"{prefix}_p99": round(p99, 2),
        f"{prefix}_max": round(ms[-1], 2),
    }


async def api_latencies(api: httpx.AsyncClient, paths: Sequence[str]) -> list[float]:
    """Round trip of a GET of each path (an operator's console polling); failures excluded."""
    seconds: list[float] = []
    for path in paths:
        sent = time.monotonic()
        try:
            answered = await api.get(path)
        except httpx.HTTPError:
            continue
        if answered.status_code == 200:
            seconds.append(time.monotonic() - sent)
    return seconds


def drain(values: list[float]) -> list[float]:
    """Take every value collected so far, leaving the list empty for the next sample."""
    taken = values[:]
    del values[: len(taken)]
    return taken
