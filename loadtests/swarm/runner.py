"""Run chargers in this process, or fork worker processes and merge their reports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import os
import resource
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from csms import event_loop
from loadtests.swarm.charger import Charger
from loadtests.swarm.config import SwarmConfig, split_indexes
from loadtests.swarm.report import Stats, finalize, merge_reports

# One process may hold at most RLIMIT_NOFILE (hard limit 20,000 here) sockets.
MAX_PER_PROCESS = 18_000


def raise_nofile_limit() -> int:
    """Soft open-files limit up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _write_progress(stats: Stats, path: Path, stop: asyncio.Event) -> None:
    while not stop.is_set():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**stats.progress(), "ts": time.time()}))
        tmp.replace(path)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def run_chargers(cfg: SwarmConfig) -> dict[str, Any]:
    """This process's slice of the chargers until the deadline (or SIGINT/SIGTERM); raw report."""
    stats = Stats(target=len(cfg.indexes()))
    t0 = time.monotonic()
    stats.measure_after = t0 + cfg.warmup_s
    chargers = [Charger(i, cfg, stats, t0) for i in cfg.indexes()]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(c.run()) for c in chargers]
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # SIGUSR1: the steady state begins (a driver such as the bench decides when).
    loop.add_signal_handler(signal.SIGUSR1, lambda: stats.start_measuring(time.monotonic()))
    progress = None
    if cfg.status_dir:
        path = Path(cfg.status_dir) / f"worker-{cfg.first_index}.json"
        progress = asyncio.create_task(_write_progress(stats, path, stop))
    everything = asyncio.gather(*tasks, return_exceptions=True)
    stopped = asyncio.create_task(stop.wait())
    # The chargers stop themselves at the deadline; the margin covers closing handshakes.
    waiters: list[asyncio.Future[Any]] = [everything, stopped]
    await asyncio.wait(
        waiters,
        timeout=cfg.duration_s + cfg.open_timeout_s + 5,
        return_when=asyncio.FIRST_COMPLETED,
    )
    stopped.cancel()
    for task in tasks:
        task.cancel()
    results = await everything
    for res in results:
        if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
            stats.errors[f"crash:{type(res).__name__}"] += 1
    stop.set()
    if progress is not None:
        await progress
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
        loop.remove_signal_handler(sig)
    return stats.raw(time.monotonic() - t0)


def _worker(cfg: SwarmConfig, conn: Connection) -> None:
    raise_nofile_limit()
    try:
        conn.send(event_loop.run(run_chargers(cfg)))
    finally:
        conn.close()


def run_swarm(cfg: SwarmConfig, processes: int = 1) -> dict[str, Any]:
    """The whole swarm, over `processes` forked workers; the merged, finalized report."""
    if cfg.chargers / max(processes, 1) > MAX_PER_PROCESS:
        raise ValueError(f"at most {MAX_PER_PROCESS} chargers per process: use more --processes")
    raise_nofile_limit()
    if processes <= 1:
        return finalize(event_loop.run(run_chargers(cfg)))
    ctx = multiprocessing.get_context("fork")
    workers: list[tuple[BaseProcess, Connection]] = []
    for first, count in split_indexes(cfg.chargers, processes):
        parent_end, child_end = ctx.Pipe(duplex=False)
        part = dataclasses.replace(cfg, first_index=first, count=count)
        proc = ctx.Process(target=_worker, args=(part, child_end), daemon=True)
        proc.start()
        child_end.close()
        workers.append((proc, parent_end))
    reports: list[dict[str, Any]] = []
    # Ctrl-C reaches the workers too (same process group); they stop and still report.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _forward(signum: int, _frame: object) -> None:
        for worker, _conn in workers:
            if worker.pid is not None:
                os.kill(worker.pid, signum)

    forward = signal.signal(signal.SIGTERM, _forward)
    usr1 = signal.signal(signal.SIGUSR1, _forward)
    try:
        for worker, conn in workers:
            with contextlib.suppress(EOFError):
                reports.append(conn.recv())
            worker.join()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGUSR1, usr1)
        for worker, _ in workers:
            if worker.is_alive():
                worker.kill()
    merged = merge_reports(reports)
    merged["processes"] = processes
    merged["workers_lost"] = processes - len(reports)
    return finalize(merged)
