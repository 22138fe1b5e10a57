"""The processes the bench owns: gateways, the operator API and swarms, each a child process of
its own that is stopped again whatever happens."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from loadtests.bench.scales import SCALES
from loadtests.processes import ServiceProcess, csms_argv

SWARM_BASE_PORT = 19310
# The bench's gateways keep their state in their own Redis database.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")


class Processes:
    """Every child the bench starts, so that all of them are stopped whatever happens."""

    def __init__(self) -> None:
        self.children: list[ServiceProcess] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        # Own session (ServiceProcess): a swarm's forked workers are stopped with their parent's
        # group. Every child appends to the bench's one log.
        child = ServiceProcess(argv, env, log, append=True).start()
        self.children.append(child)
        return child.popen

    def of(self, proc: subprocess.Popen[bytes]) -> ServiceProcess:
        """The child `proc` is the process of."""
        found = next((c for c in self.children if c.popen is proc), None)
        return found or ServiceProcess.adopt(proc)

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        """SIGTERM, up to `timeout` to exit, then SIGKILL to its group (the swarm's workers)."""
        self.of(proc).stop(timeout)

    def wait_healthy(
        self, proc: subprocess.Popen[bytes], what: str, url: str, within_s: float
    ) -> None:
        """`url` answers 200 within `within_s`, else RuntimeError naming `what` and the log."""
        child = self.of(proc)
        try:
            child.wait_healthy(within_s, url)
        except RuntimeError:
            state = "exited" if proc.poll() is not None else "not healthy"
            raise RuntimeError(f"{what} {state}, see {child.log}") from None

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop(15)
        self.children.clear()


@dataclass
class Gateway:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def tree(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        return []

    def rss(self) -> int:
        return sum(p.memory_info().rss for p in self.tree())

    def established(self) -> int:
        """Chargers connected, counted on the gateway's side (the swarm's own counters lag when
        its event loops are starved of CPU)."""
        count = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                count += sum(
                    1
                    for c in proc.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
                )
        return count

    def cpu_s(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.tree())


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.scale = SCALES[args.scale]
        self.prefix = f"bench-{uuid.uuid4().hex[:8]}."
        self.procs = Processes()
        self.tmp = Path(tempfile.mkdtemp(prefix="csms-bench-"))
        self.log = self.tmp / "bench.log"
        self.running: list[Gateway] = []
        self.compression = "false"

    def start_gateway(self, port: int, gw_id: str, **extra: str) -> Gateway:
        env = {
            **os.environ,
            "CSMS_TOPIC_PREFIX": self.prefix,
            "GATEWAY_PORT": str(port),
            "GATEWAY_ID": gw_id,
            "REDIS_URL": REDIS_URL,
            "CSMS_LOG_LEVEL": "WARNING",
            "GATEWAY_DRAIN_WINDOW_S": "2",
            **extra,
        }
        proc = self.procs.start(csms_argv("gateway"), env, self.log)
        return Gateway(port, proc)

    def wait_healthy(self, gateways: list[Gateway], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        for gw in gateways:
            url = f"http://127.0.0.1:{gw.port}/health"
            self.procs.wait_healthy(
                gw.proc, f"gateway :{gw.port}", url, deadline - time.monotonic()
            )

    def gateways(self, n: int, *, compression: bool = False) -> list[Gateway]:
        """The first `n` of the scale's gateway processes, started once and shared by the
        scenarios (restarted only to switch compression, or when one is not running)."""
        wanted = "true" if compression else "false"
        alive = all(g.proc.poll() is None for g in self.running)
        if not self.running or self.compression != wanted or not alive:
            for gw in self.running:
                self.procs.stop(gw.proc)
            self.running = [
                self.start_gateway(SWARM_BASE_PORT + k, f"gw-bench-{k}", GATEWAY_COMPRESSION=wanted)
                for k in range(self.scale.gateways)
            ]
            self.compression = wanted
            self.wait_healthy(self.running)
        return self.running[:n]

    def start_api(self, port: int, token: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "CSMS_TOPIC_PREFIX": self.prefix,
            "API_PORT": str(port),
            "REDIS_URL": REDIS_URL,
            "CSMS_API_TOKEN": token,
            "CSMS_LOG_LEVEL": "WARNING",
        }
        proc = self.procs.start(csms_argv("api"), env, self.log)
        self.procs.wait_healthy(proc, f"api :{port}", f"http://127.0.0.1:{port}/health", 60)
        return proc

    def start_swarm(
        self, name: str, gateways: list[Gateway], *opts: str, prefix: str = ""
    ) -> tuple[Any, Path, Path]:
        out = self.tmp / f"{name}.json"
        status = self.tmp / f"{name}-status"
        status.mkdir()
        argv = [
            sys.executable,
            "-m",
            "loadtests.swarm",
            "--url",
            ",".join(g.url for g in gateways),
            "--station-prefix",
            prefix or f"{name[:3].upper()}{uuid.uuid4().hex[:4]}-",
            "--status-dir",
            str(status),
            "--output",
            str(out),
            *opts,
        ]
        return self.procs.start(argv, dict(os.environ), self.log), out, status

    def finish_swarm(self, proc: subprocess.Popen[bytes], out: Path, timeout: float) -> Any:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the parent forwards it to its workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
        self.procs.stop(proc, timeout=5)
        try:
            return json.loads(out.read_text())
        except (OSError, ValueError):
            return {"errors": {"swarm report missing (swarm killed)": 1}}
