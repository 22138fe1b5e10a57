"""Start a CSMS service process (or `csms up`, a swarm, any child), wait until it is healthy,
stop it: the one helper of the stack tests, the benchmarks and the load tools.

A child started here runs in a session of its own, so that a stop reaches whatever it forked
(`csms up`'s services, a swarm's workers): SIGTERM to it, then SIGKILL to its process group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import httpx

POLL_S = 0.3
TAIL_CHARS = 5000


def csms_argv(command: str, *args: str) -> list[str]:
    """`csms <command> <args…>` with this interpreter."""
    return [sys.executable, "-m", "services.cli", command, *args]


def cancel_on_sigterm() -> None:
    """SIGTERM cancels the running task, as Ctrl-C does, so that its cleanup (stopping the
    stack and the infrastructure it started) runs instead of leaving them behind."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


class ServiceProcess:
    """One child process: its command line, full environment, log file (stdout and stderr) and
    the URL that answers 200 once it is healthy."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        health_url: str | None = None,
        *,
        append: bool = False,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd  # e.g. another checkout (`python -m` imports from the working directory)
        self.env = dict(env)
        self.log = log
        self.health_url = health_url
        self.append = append  # add to the log (shared by several children) instead of truncating
        self._popen: subprocess.Popen[bytes] | None = None
        self._group = True  # it leads a process group of its own

    @classmethod
    def adopt(cls, popen: subprocess.Popen[bytes], log: Path | None = None) -> ServiceProcess:
        """A process started elsewhere, to wait on and stop like one started here (its process
        group is killed only when it leads one)."""
        args = popen.args
        argv = [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
        adopted = cls(argv, {}, log or Path(os.devnull))
        adopted._popen = popen
        adopted._group = _leads_group(popen.pid)
        return adopted

    def start(self) -> ServiceProcess:
        """Launch it (in a new session, output into the log); returns itself."""
        if self._popen is not None:
            raise RuntimeError(f"{self.argv!r} already started")
        with self.log.open("ab" if self.append else "wb") as out:
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.cwd,
            )
        return self

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise RuntimeError(f"{self.argv!r} not started")
        return self._popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """Its exit code once it exited (polled); None while it runs or before it started."""
        return None if self._popen is None else self._popen.poll()

    @property
    def started(self) -> bool:
        return self._popen is not None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, chars: int = TAIL_CHARS) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, within_s: float, *urls: str) -> None:
        """Poll each URL (by default the health URL) every ~0.3 s until it answers 200, all within
        `within_s`; RuntimeError with the log's tail if the process exits or time runs out."""
        wanted = list(urls) or ([self.health_url] if self.health_url else [])
        if not wanted:
            raise ValueError("no health URL to wait for")
        deadline = time.monotonic() + within_s
        for url in wanted:
            while True:
                code = self.popen.poll()
                if code is not None:
                    raise RuntimeError(f"process exited early ({code}):\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        break
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"{url} not healthy within {within_s:.0f} s:\n{self.log_tail()}"
                    )
                time.sleep(POLL_S)

    def terminate(self) -> None:
        """SIGTERM, if it runs (a service drains, `csms up` stops its children)."""
        if self.running:
            self.popen.send_signal(signal.SIGTERM)

    def reap(self, within_s: float) -> int | None:
        """Wait up to `within_s` for it to exit, then SIGKILL its process group (whatever its exit
        left behind, or all of it). The exit code; None when it had to be killed."""
        popen = self.popen
        try:
            code: int | None = popen.wait(within_s)
        except subprocess.TimeoutExpired:
            code = None
        self._kill()
        popen.wait()
        return code

    def stop(self, within_s: float = 30) -> int | None:
        """SIGTERM, wait up to `within_s`, then SIGKILL the process group. The exit code; None
        when it had to be killed (or never started)."""
        if self._popen is None:
            return None
        self.terminate()
        return self.reap(within_s)

    def kill(self) -> int:
        """SIGKILL to its process group at once (a crash, no drain); the exit code."""
        self._kill()
        return self.popen.wait()

    async def wait_healthy_async(self, within_s: float, *urls: str) -> None:
        await asyncio.to_thread(self.wait_healthy, within_s, *urls)

    async def stop_async(self, within_s: float = 30) -> int | None:
        return await asyncio.to_thread(self.stop, within_s)

    def _kill(self) -> None:
        popen = self.popen
        if self._group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
        elif popen.poll() is None:
            popen.kill()


def stop_all(procs: Iterable[ServiceProcess], within_s: float = 60) -> list[int | None]:
    """SIGTERM to all first (they drain side by side), then wait up to `within_s` for each and
    SIGKILL what outlives it. Their exit codes (None: killed)."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    return [proc.reap(within_s) if proc.started else None for proc in procs]
