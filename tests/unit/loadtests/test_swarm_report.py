"""Report merging, percentiles, address allocation and the loopback-only rule."""

from __future__ import annotations

import pytest

from loadtests.swarm.charger import is_201
from loadtests.swarm.config import (
    SwarmConfig,
    check_loopback,
    source_address,
    split_indexes,
    target_url,
)
from loadtests.swarm.report import Stats, bucket_of, finalize, merge_reports, percentile


def _stats(latencies_ms: list[float], **counts: int) -> Stats:
    stats = Stats(**counts)  # type: ignore[arg-type]
    for ms in latencies_ms:
        stats.observe(ms / 1000)
    return stats


def test_percentiles_are_within_two_percent() -> None:
    hist: dict[int, int] = {}
    for ms in range(1, 1001):  # 1..1000 ms, uniform
        b = bucket_of(ms / 1000)
        hist[b] = hist.get(b, 0) + 1
    for q, expected in ((50, 500), (95, 950), (99, 990), (100, 1000)):
        assert expected <= percentile(hist, q) <= expected * 1.021


def test_percentile_of_nothing_is_zero() -> None:
    assert percentile({}, 99) == 0.0


def test_merge_sums_counters_and_histograms() -> None:
    a = _stats([1.0, 2.0], target=10, established=10, sent=5, received=4)
    a.errors["timeout:Heartbeat"] += 1
    a.calls["Heartbeat"] += 3
    b = _stats([2.0, 50.0], target=5, established=4, failed=2, sent=7, received=7)
    b.errors["timeout:Heartbeat"] += 2
    b.errors["callerror:FormatViolation"] += 1
    ra, rb = a.raw(10.0), b.raw(12.0)
    ra["boots"]["last_accepted_ts"] = 100.0
    rb["boots"]["last_accepted_ts"] = 90.0
    merged = finalize(merge_reports([ra, rb]))
    assert merged["connections"]["target"] == 15
    assert merged["connections"]["established"] == 14
    assert merged["connections"]["failed"] == 2
    assert merged["frames"] == {"sent": 12, "received": 11}
    assert merged["errors"] == {"timeout:Heartbeat": 3, "callerror:FormatViolation": 1}
    assert merged["calls"] == {"Heartbeat": 3}
    assert merged["duration_s"] == 12.0  # the longest worker, not the sum
    assert merged["boots"]["last_accepted_ts"] == 100.0
    assert merged["latency_ms"]["count"] == 4
    assert merged["frames_per_s"] == round(23 / 12.0, 1)
    assert 50.0 <= merged["latency_ms"]["max"] <= 51.0
    assert 2.0 <= merged["latency_ms"]["p50"] <= 2.05


def test_merged_percentiles_equal_those_of_one_histogram() -> None:
    one = _stats([float(ms) for ms in range(1, 201)])
    halves = [_stats([float(ms) for ms in range(1, 201) if ms % 2 == r]) for r in (0, 1)]
    merged = finalize(merge_reports([h.raw(1.0) for h in halves]))
    assert merged["latency_ms"] == finalize(one.raw(1.0))["latency_ms"]


def test_source_addresses_stay_in_loopback_and_group_chargers() -> None:
    assert source_address(0, 1000) == "127.0.0.1"
    assert source_address(999, 1000) == "127.0.0.1"
    assert source_address(1000, 1000) == "127.0.0.2"
    assert source_address(250_000, 1000) == "127.0.1.1"  # 250 addresses per /24, no .0/.255
    addresses = {source_address(i, 1) for i in range(60_000)}
    assert len(addresses) == 60_000
    assert all(a.startswith("127.") and not a.endswith((".0", ".255")) for a in addresses)
    with pytest.raises(ValueError):
        source_address(250 * 256, 1)


def test_split_indexes_covers_every_charger_once() -> None:
    slices = split_indexes(50_001, 3)
    assert slices == [(0, 16_667), (16_667, 16_667), (33_334, 16_667)]
    assert sum(c for _, c in slices) == 50_001


def test_chargers_spread_over_gateways() -> None:
    urls = ("ws://127.0.0.1:1/ocpp", "ws://127.0.0.1:2/ocpp", "ws://127.0.0.1:3/ocpp")
    assert [target_url(i, urls) for i in range(4)] == [*urls, urls[0]]


def test_only_loopback_targets() -> None:
    check_loopback("ws://127.0.0.1:9000/ocpp")
    check_loopback("ws://localhost:9000/ocpp")
    with pytest.raises(ValueError):
        check_loopback("ws://10.0.0.1:9000/ocpp")
    with pytest.raises(ValueError):
        SwarmConfig(urls=("ws://example.com/ocpp",))


def test_protocol_ratio_is_respected() -> None:
    share = sum(is_201(i, 0.3) for i in range(10_000)) / 10_000
    assert 0.27 < share < 0.33
    assert not any(is_201(i, 0.0) for i in range(1000))
    assert all(is_201(i, 1.0) for i in range(1000))


def test_worker_slice() -> None:
    cfg = SwarmConfig(chargers=100, first_index=40, count=20)
    assert cfg.indexes() == range(40, 60)
    assert SwarmConfig(chargers=7).indexes() == range(7)
