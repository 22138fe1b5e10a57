"""`csms up`'s process manager: a child that dies is restarted with a doubling backoff while
the others keep running; one that keeps dying is reported with its last lines; a stop ends
every child."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from services.supervisor import RestartPolicy, Supervisor, backoff_s, crash_looping, print_status

FAST = RestartPolicy(initial_s=0.05, cap_s=0.2, healthy_after_s=60, loop_window_s=60, loop_deaths=3)
STEADY = [sys.executable, "-c", "import time\nprint('steady up', flush=True)\ntime.sleep(60)"]
CRASHER = [sys.executable, "-c", "print('boom: no config', flush=True); raise SystemExit(3)"]


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    policy = RestartPolicy(initial_s=0.5, cap_s=30)
    assert [backoff_s(policy, n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_crash_looping_counts_deaths_within_the_window_only() -> None:
    policy = RestartPolicy(loop_window_s=300, loop_deaths=5)
    assert not crash_looping(policy, [0, 10, 20, 30, 40], now=50)
    assert crash_looping(policy, [0, 10, 20, 30, 40, 50], now=50)
    assert not crash_looping(policy, [0, 10, 20, 30, 40, 400], now=400)  # the old ones expired


def _until(condition, what: str, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def test_a_dying_child_is_restarted_and_reported_while_the_other_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.WARNING, logger="csms.supervisor")
    out = io.BytesIO()
    status_path = tmp_path / "run" / "children.json"
    sup = Supervisor({"steady": STEADY, "crasher": CRASHER}, {}, status_path, policy=FAST, out=out)
    runner = threading.Thread(target=sup.run, kwargs={"poll_s": 0.02})
    runner.start()
    try:
        _until(lambda: sup.children["crasher"].looping, "the crasher is crash-looping")
        steady = sup.children["steady"]
        assert steady.proc is not None and steady.proc.poll() is None
        assert steady.restarts == 0  # untouched by its neighbour's deaths
        crasher = sup.children["crasher"]
        assert crasher.restarts >= FAST.loop_deaths and crasher.last_exit == 3
        status = json.loads(status_path.read_text())["children"]
        assert status["steady"]["state"] == "running"
        assert status["crasher"]["state"] == "crash-looping"
        assert "boom: no config" in status["crasher"]["last_lines"]
        assert print_status(status_path) == 1  # what `make status` shows
        shown = capsys.readouterr().out
        assert "crasher keeps crashing" in shown and "| boom: no config" in shown
    finally:
        sup.request_stop()
        runner.join(30)
    assert "crasher keeps crashing" in caplog.text and "boom: no config" in caplog.text
    assert b"steady up" in out.getvalue()  # the children's output reaches ours
    assert all(c.proc is None or c.proc.poll() is not None for c in sup.children.values())
    assert not status_path.exists()  # nothing is left saying it runs


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(60)",
    ]
    sup = Supervisor({"stubborn": stubborn}, {}, None, policy=FAST, out=io.BytesIO(), grace_s=0.5)
    runner = threading.Thread(target=sup.run, kwargs={"poll_s": 0.02})
    runner.start()
    _until(lambda: "ready" in sup.children["stubborn"].lines, "the child is up")
    proc = sup.children["stubborn"].proc
    assert proc is not None
    sup.request_stop()
    runner.join(30)
    assert proc.poll() is not None


def test_a_child_runs_with_its_own_variables_over_the_common_ones(tmp_path: Path) -> None:
    show = [sys.executable, "-c", "import os; print(os.environ['WHO'], os.environ['ALL'])"]
    out = io.BytesIO()
    sup = Supervisor(
        {"a": show, "b": show},
        {**os.environ, "WHO": "nobody", "ALL": "common"},
        None,
        policy=FAST,
        out=out,
        child_env={"a": {"WHO": "a"}},
    )
    for child in sup.children.values():
        sup._start(child)
        assert child.proc is not None
        child.proc.wait(30)
    _until(lambda: len(out.getvalue().splitlines()) == 2, "both printed")
    assert sorted(out.getvalue().decode().split("\n")[:2]) == ["a common", "nobody common"]
