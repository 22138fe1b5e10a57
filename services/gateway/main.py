"""`csms gateway`: the WebSocket gateway process."""

from __future__ import annotations

import asyncio

from csms import event_loop
from csms.settings import Settings
from services.gateway.server import install_stop_signals, run_gateway


def run(settings: Settings) -> None:
    async def _main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await run_gateway(settings, stop)

    event_loop.run(_main())
