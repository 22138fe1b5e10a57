"""What one swarm run does: pure data, shared by every worker process."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

_LOOPBACK_HOSTS = ("localhost", "::1")


def station_id(prefix: str, index: int) -> str:
    """The id of swarm charger `index` (tools that address swarm chargers use this too)."""
    return f"{prefix}{index:06d}"


@dataclass(frozen=True)
class SwarmConfig:
    urls: tuple[str, ...] = ("ws://127.0.0.1:9000/ocpp",)
    chargers: int = 100
    duration_s: float = 60.0
    ramp_s: float = 10.0
    ratio_201: float = 0.5  # share of 2.0.1 chargers, the rest speak 1.6
    heartbeat_s: float = 60.0
    meter_s: float = 30.0
    session_s: float = 600.0  # a charging session lasts this long...
    idle_s: float = 300.0  # ...then the connector stays idle this long
    warmup_s: float = 0.0  # latencies before this (from the start) are not recorded
    call_timeout_s: float = 30.0
    open_timeout_s: float = 30.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 15.0
    station_prefix: str = "SW"
    per_source_ip: int = 1000  # chargers sharing one 127.x.y.z source address
    compression: bool = False  # offer permessage-deflate
    status_dir: str = ""  # workers write live progress here when set
    seed: int = 1
    first_index: int = 0  # this worker's slice of the global charger indexes
    count: int = field(default=-1)  # -1: all of them

    def __post_init__(self) -> None:
        for url in self.urls:
            check_loopback(url)

    def indexes(self) -> range:
        count = self.chargers if self.count < 0 else self.count
        return range(self.first_index, self.first_index + count)


def check_loopback(url: str) -> None:
    """The swarm is a load generator: it only ever targets this machine."""
    host = urlsplit(url).hostname or ""
    if not (host.startswith("127.") or host in _LOOPBACK_HOSTS):
        raise ValueError(f"swarm targets loopback addresses only, not {host!r}")


def source_address(index: int, per_ip: int) -> str:
    """The 127.0.0.0/8 address charger `index` connects from (each gives ~28k ephemeral ports)."""
    k = index // max(per_ip, 1)
    if k >= 250 * 256:
        raise ValueError("too many source addresses")
    return f"127.0.{k // 250}.{k % 250 + 1}"


def target_url(index: int, urls: tuple[str, ...]) -> str:
    """Chargers are spread round-robin over the gateway URLs."""
    return urls[index % len(urls)]


def split_indexes(chargers: int, processes: int) -> list[tuple[int, int]]:
    """(first index, count) per worker: contiguous, sizes differing by at most one."""
    base, extra = divmod(chargers, processes)
    slices, first = [], 0
    for w in range(processes):
        count = base + (w < extra)
        slices.append((first, count))
        first += count
    return slices
