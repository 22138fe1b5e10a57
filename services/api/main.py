"""Entry point of the operator API process: `csms api`."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn

from csms.settings import Settings
from services.api.app import create_app

# In-flight requests get this long after SIGTERM (a command waiting for its station is cut
# short; its record stays in ocpp.commands and, when asynchronous, in GET /commands/{id}).
GRACEFUL_SHUTDOWN_S = 3


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises a captured SIGTERM/SIGINT after its graceful shutdown, which kills
        # the process with the signal's default action; `run` must return so the CLI exits 0.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run(settings: Settings) -> None:
    """Serve the API on settings.api_host:api_port until SIGTERM/SIGINT, then drain in-flight
    requests (bounded) and return."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        proxy_headers=False,
        server_header=False,
    )
    _Server(config).run()
