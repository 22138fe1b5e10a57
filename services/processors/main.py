"""`csms processors`: run the faust worker that projects ocpp.frames into the read models."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading

import faust

from csms.infra.kafka import ensure_topics
from csms.settings import Settings
from services.processors.app import create_app
from services.processors.upgrade import seed_billing_group

# faust's log level names (its CLI accepts crit/error/warn/info/debug).
LOG_LEVEL = "warn"
# How long faust may take to stop after SIGTERM/SIGINT before the process exits anyway. faust
# sometimes never returns from an agent's `stream.take()` at shutdown (faust-streaming#162,
# seen here under load after a restart); nothing is lost by leaving then: Redis is written
# before a batch is acked, and what was not committed is redelivered and folded again.
STOP_GRACE_S = 4.0

log = logging.getLogger(__name__)


class _BoundedStopWorker(faust.Worker):
    """faust's worker, whose stop on a signal is bounded by STOP_GRACE_S."""

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if not self._signal_stop_time:
            timer = threading.Timer(STOP_GRACE_S, _give_up)
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signum)


def _give_up() -> None:
    log.warning(
        "faust did not stop within %.0f s of the signal: exiting now; the events it had not "
        "committed will be redelivered",
        STOP_GRACE_S,
    )
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def run(settings: Settings) -> None:
    """Run the processors until SIGTERM/SIGINT (blocking); faust's worker handles the signals,
    stops the agents, flushes what they published, commits and closes the loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        # The topics exist before the worker subscribes, with the CSMS's partition count.
        loop.run_until_complete(ensure_topics(settings))
        seed_billing_group(settings)  # once, when upgrading from one faust group (ADR 0023)
        app = create_app(settings)
        worker = _BoundedStopWorker(
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
