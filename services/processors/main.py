"""`csms processors`: run the faust worker that projects ocpp.frames into the read models."""

from __future__ import annotations

import asyncio

import faust

from csms.infra.kafka import ensure_topics
from csms.settings import Settings
from services.processors.app import create_app

# faust's log level names (its CLI accepts crit/error/warn/info/debug).
LOG_LEVEL = "warn"


def run(settings: Settings) -> None:
    """Run the processors until SIGTERM/SIGINT (blocking); faust's worker handles the signals,
    stops the agents, flushes what they published, commits and closes the loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        # The topics exist before the worker subscribes, with the CSMS's partition count.
        loop.run_until_complete(ensure_topics(settings))
        app = create_app(settings)
        worker = faust.Worker(
            app, loop=loop, loglevel=LOG_LEVEL, quiet=True, redirect_stdouts=False
        )
        worker.spinner = None  # a terminal progress spinner only garbles service logs
        worker.execute_from_commandline()
    except SystemExit as exc:
        # The worker always ends by raising SystemExit; a clean stop is not an error here.
        if exc.code not in (0, None):
            raise
    finally:
        if not loop.is_closed():  # the worker closes it, unless it never ran
            loop.close()
        asyncio.set_event_loop(None)
