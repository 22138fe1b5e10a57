"""Which asyncio event loop a process runs on.

uvloop (libuv) cuts the gateway's WebSocket cost per message by about a third compared with the
standard loop (measured: a bare websockets echo server, 100 connections, 181 -> 120 us of CPU per
round trip); the load generators run on it too, so that on a shared machine they take as little
of it as they can (the swarm's reconnect storm, docs/benchmarks.md issue 19).
`CSMS_EVENT_LOOP=asyncio` selects the standard loop, e.g. to compare or debug.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on the configured loop (uvloop unless CSMS_EVENT_LOOP=asyncio); its result."""
    choice = os.environ.get("CSMS_EVENT_LOOP", "uvloop")
    if choice == "asyncio":
        return asyncio.run(main)
    if choice != "uvloop":
        main.close()
        raise ValueError(f"CSMS_EVENT_LOOP must be uvloop or asyncio, got {choice!r}")
    import uvloop

    return uvloop.run(main)
