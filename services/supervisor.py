"""`csms up`'s process manager: every service a child process, restarted when it dies.

A child that exits while the stack runs is started again after a backoff that doubles with
each failure in a row (0.5 s, 1 s, 2 s … capped at 30 s) and starts over once the child has
run for a minute; the other children keep running. A child that died more than five times in
five minutes is *crash-looping*: it is still restarted (at the cap), and reported loudly - in
the log, with its last lines of output, and in `make status`, which reads the status file this
supervisor keeps (`<state folder>/run/csms-children.json`). SIGTERM / SIGINT stop every child
(SIGTERM, then SIGKILL for one still alive after the grace period).

The restart policy is pure (`RestartPolicy`, `backoff_s`, `crash_looping`); the rest is the
process edge: Popen, one thread per child relaying its output line by line into ours and into a
ring buffer of its last lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("csms.supervisor")

LAST_LINES = 40  # of each child's output, kept for the crash report


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    initial_s: float = 0.5
    cap_s: float = 30.0
    healthy_after_s: float = 60.0  # a child that ran this long starts its backoff over
    loop_window_s: float = 300.0
    loop_deaths: int = 5  # more deaths than this within the window: crash-looping


def backoff_s(policy: RestartPolicy, failures_in_a_row: int) -> float:
    """How long to wait before restarting a child that just failed for the n-th time in a row."""
    return float(min(policy.cap_s, policy.initial_s * 2 ** max(failures_in_a_row - 1, 0)))


def crash_looping(policy: RestartPolicy, deaths: Sequence[float], now: float) -> bool:
    """Whether the child died more than `loop_deaths` times within the last window."""
    return sum(1 for t in deaths if now - t <= policy.loop_window_s) > policy.loop_deaths


@dataclass(slots=True)
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float | None = None  # set while it waits for its backoff
    failures_in_a_row: int = 0
    restarts: int = 0
    last_exit: int | None = None
    deaths: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=LAST_LINES))
    looping: bool = False

    @property
    def state(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            return "crash-looping" if self.looping else "running"
        return "crash-looping" if self.looping else "restarting"


class Supervisor:
    def __init__(
        self,
        children: dict[str, list[str]],
        env: dict[str, str],
        status_path: Path | None,
        *,
        policy: RestartPolicy = RestartPolicy(),
        clock: Callable[[], float] = time.monotonic,
        out: IO[bytes] | None = None,
        grace_s: float = 10.0,
        child_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self._children = {name: Child(name, argv) for name, argv in children.items()}
        self._env = env
        self._child_env = child_env or {}  # a child's own variables, over `env`
        self._status_path = status_path
        self._policy = policy
        self._clock = clock
        self._out = out if out is not None else sys.stdout.buffer
        self._out_lock = threading.Lock()
        self._stopping = threading.Event()
        self._grace_s = grace_s  # each service stops within 5 s of SIGTERM; this is the bound

    @property
    def children(self) -> dict[str, Child]:
        return self._children

    def request_stop(self, *_: Any) -> None:
        self._stopping.set()

    def run(self, poll_s: float = 0.2) -> None:
        """Start every child, keep them running until a stop is requested, then stop them."""
        for child in self._children.values():
            self._start(child)
        self._write_status()
        try:
            while not self._stopping.wait(poll_s):
                self.tick()
        finally:
            self.stop()

    def tick(self) -> None:
        """Notice deaths, restart the children whose backoff is over."""
        now = self._clock()
        changed = False
        for child in self._children.values():
            if child.proc is not None and child.proc.poll() is not None:
                self._died(child, now)
                changed = True
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                self._start(child)
                child.restarts += 1
                changed = True
        if changed:
            self._write_status()

    def _died(self, child: Child, now: float) -> None:
        assert child.proc is not None
        child.last_exit = child.proc.returncode
        child.proc = None
        ran_s = now - child.started
        child.failures_in_a_row = (
            1 if ran_s >= self._policy.healthy_after_s else child.failures_in_a_row + 1
        )
        child.deaths.append(now)
        delay = backoff_s(self._policy, child.failures_in_a_row)
        child.restart_at = now + delay
        looping = crash_looping(self._policy, child.deaths, now)
        if looping and not child.looping:
            last = "\n".join(f"    {line}" for line in child.lines)
            log.error(
                "%s keeps crashing: %d deaths in %.0f s (last exit %s); still restarting it "
                "every %.0f s. Its last lines:\n%s",
                child.name,
                sum(1 for t in child.deaths if now - t <= self._policy.loop_window_s),
                self._policy.loop_window_s,
                child.last_exit,
                self._policy.cap_s,
                last,
            )
        else:
            log.warning(
                "%s exited with %s after %.1f s: restarting it in %.1f s",
                child.name,
                child.last_exit,
                ran_s,
                delay,
            )
        child.looping = looping

    def _start(self, child: Child) -> None:
        child.restart_at = None
        child.started = self._clock()
        env = {**self._env, **self._child_env.get(child.name, {})}
        child.proc = subprocess.Popen(
            child.argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(
            target=self._relay, args=(child, child.proc), name=f"out:{child.name}", daemon=True
        ).start()

    def _relay(self, child: Child, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                child.lines.append(line.decode("utf-8", "replace").rstrip("\n"))
                with self._out_lock:
                    self._out.write(line)
                    self._out.flush()

    def stop(self) -> None:
        """SIGTERM to every child at once, SIGKILL to any still alive after the grace period."""
        self._stopping.set()
        grace_s = self._grace_s
        running = [(c, c.proc) for c in self._children.values() if c.proc is not None]
        for _, proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = self._clock() + grace_s
        for child, proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", child.name, grace_s)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        if self._status_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._status_path.unlink()

    def status(self) -> dict[str, Any]:
        now = self._clock()
        return {
            "pid": os.getpid(),
            "children": {
                c.name: {
                    "state": c.state,
                    "pid": c.proc.pid if c.proc is not None else None,
                    "restarts": c.restarts,
                    "last_exit": c.last_exit,
                    "up_s": round(now - c.started, 1) if c.proc is not None else 0.0,
                    "last_lines": list(c.lines)[-10:] if c.looping else [],
                }
                for c in self._children.values()
            },
        }

    def _write_status(self) -> None:
        if self._status_path is None:
            return
        self._status_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), indent=1), encoding="utf-8")
        tmp.replace(self._status_path)


def print_status(path: Path) -> int:
    """`make status`'s view of the children (exit 1 when one is crash-looping)."""
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return 0
    looping = False
    for name, child in status.get("children", {}).items():
        pid = child.get("pid") or "-"
        line = f"    {name:<11} {child.get('state', '?'):<14} pid {pid:<8} "
        line += f"restarts {child.get('restarts', 0)}"
        if child.get("last_exit") is not None:
            line += f", last exit {child['last_exit']}"
        print(line)
        if child.get("state") == "crash-looping":
            looping = True
            print(f"    !! {name} keeps crashing (see the log); its last lines:")
            for text in child.get("last_lines") or ():
                print(f"      | {text}")
    return 1 if looping else 0


if __name__ == "__main__":
    sys.exit(print_status(Path(sys.argv[1])))
