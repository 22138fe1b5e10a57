"""What a fault run on the real stack must show afterwards (tests/stack/test_faults.py and
test_chaos.py): the faults were felt and survived, and nothing was lost or doubled."""

from __future__ import annotations

from loadtests.faults import Report


def assert_nothing_lost(report: Report) -> None:
    assert report.sessions > 0 and report.retries > 0  # the faults were felt, and survived
    assert report.session_problems == []
    assert report.sessions_ok == report.sessions  # 100 %
    assert (report.calls_missing, report.calls_duplicated) == (0, 0)
    assert (report.clickhouse_missing, report.clickhouse_duplicated) == (0, 0)
    assert report.replay_differences == [], report.replay_samples
