"""The fault run's plan: which faults exist, what each needs and touches, how a fault that
cannot be injected here (no netem in the kernel) is reported, and the loopback delay's `tc`."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from loadtests.faults import FAULTS, LocalStack, PrivateInfra, Recovery, Report, netem
from loadtests.faults.checks import check_replay
from loadtests.faults.run import check_faults, touched
from loadtests.faults.stack import SERVICES
from loadtests.processes import cancel_on_sigterm


def _stack(tmp_path: Path, *, server: bool) -> LocalStack:
    return LocalStack(tmp_path, "127.0.0.1:1", "redis://127.0.0.1:1/0", 1000,
                      clickhouse_server=server)  # fmt: skip


def test_every_fault_touches_known_services() -> None:
    assert touched("kill processors") == ("processors",)
    assert touched("pause gateway") == ("gateway",)
    assert touched("unreachable clickhouse") == ("analytics",)
    assert touched("restart kafka") == SERVICES
    assert touched("delay loopback") == SERVICES
    assert all(set(touched(f)) <= set(SERVICES) for f in FAULTS)


def test_faults_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    embedded = _stack(tmp_path, server=False)
    with pytest.raises(ValueError, match="unknown faults"):
        check_faults(["kill everything"], embedded, None)
    with pytest.raises(ValueError, match="PrivateInfra"):
        check_faults(["restart kafka"], embedded, None)
    with pytest.raises(ValueError, match="clickhouse_server"):
        check_faults(["unreachable clickhouse"], embedded, None)
    infra = PrivateInfra(tmp_path / "infra", 2000)
    check_faults(FAULTS, _stack(tmp_path, server=True), infra)  # all possible


def test_a_clickhouse_server_stack_writes_over_http_and_is_queried_there(tmp_path: Path) -> None:
    embedded, served = _stack(tmp_path, server=False), _stack(tmp_path, server=True)
    assert embedded.env["CLICKHOUSE_URL"].startswith("chdb://")
    assert embedded.clickhouse_url == "http://127.0.0.1:1002"  # the analytics service's
    assert served.env["CLICKHOUSE_URL"] == "http://127.0.0.1:1004"
    assert served.clickhouse_url == "http://127.0.0.1:1004"
    assert served.clickhouse_server is not None
    server_env = served.clickhouse_server.env
    assert server_env["CLICKHOUSE_URL"].startswith("chdb://")  # the engine lives there
    assert server_env["CSMS_TOPIC_PREFIX"] != served.prefix  # and it consumes nothing of ours


def test_a_skipped_fault_is_reported_with_its_reason_and_does_not_fail_the_run() -> None:
    report = Report(sessions=1, sessions_ok=1)
    report.recoveries = [
        Recovery("delay loopback", 1, 0.0, 0.0, skipped="tc: unknown qdisc netem"),
        Recovery("kill api", 1, 1.0, 2.0),
    ]
    summary = report.summary()
    assert summary["recovery"]["delay loopback"] == {
        "runs": 0,
        "skipped": "tc: unknown qdisc netem",
    }
    assert summary["recovery"]["kill api"]["runs"] == 1
    assert report.ok


def test_tc_failures_are_told_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netem, "TC", "/nonexistent/tc")
    assert "/nonexistent/tc" in netem.add_loopback_delay(50, 10)
    monkeypatch.setattr(netem, "TC", "false")  # runs, exits 1
    assert netem.remove_loopback_delay().startswith("false qdisc del dev lo root")


def test_sigterm_cancels_the_run_so_its_cleanup_runs() -> None:
    cleaned: list[str] = []

    async def run() -> None:
        cancel_on_sigterm()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)
        finally:
            cleaned.append("stack stopped")

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run())
    assert cleaned == ["stack stopped"]


async def test_a_replay_that_outlasts_its_time_is_reported_not_raised(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, "127.0.0.1:1", "redis://127.0.0.1:6379/5", 1000)
    report = Report()
    await check_replay(stack, report, timeout_s=0.001)  # no replay starts that fast
    assert report.replay_differences == ["replay did not finish within 0 s"]
