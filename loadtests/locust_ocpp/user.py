"""The Locust User: one charger per user, its protocol chosen from the --protocol-mix."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import gevent
from gevent.event import Event
from locust import User, constant, task
from locust.env import Environment

from loadtests.locust_ocpp.charger import LIVE, Charger, ChargerConfig, Task
from loadtests.locust_ocpp.options import parse_mix, pick_protocol, station_id
from loadtests.locust_ocpp.transport import Reporter, TlsOptions, Transport

_numbers = itertools.count()


class GeventRuntime:
    """charger.Runtime under gevent: one wake-up event for the charger's main loop."""

    def __init__(self) -> None:
        self._event = Event()

    def now(self) -> float:
        return float(gevent.get_hub().loop.now())

    def wait(self, seconds: float) -> None:
        self._event.wait(max(0.0, seconds))
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def spawn(self, fn: Callable[[], None]) -> Task:
        task: Task = gevent.spawn(fn)
        return task

    def random(self) -> float:
        return random.random()


def reporter(environment: Environment) -> Reporter:
    def report(kind: str, name: str, ms: float, length: int, exc: BaseException | None) -> None:
        environment.events.request.fire(  # type: ignore[no-untyped-call]
            request_type=kind,
            name=name,
            response_time=ms,
            response_length=length,
            exception=exc,
            context={},
        )

    return report


def worker_index(environment: Environment) -> int:
    return int(getattr(environment.runner, "worker_index", 0) or 0)


def drop_all(environment: Environment, msg: Any = None, **_: Any) -> None:
    """The storm message's listener: every charger of this process loses its connection."""
    for charger in list(LIVE):
        charger.drop()


class OcppCharger(User):
    """A charging station over OCPP-J: the host is the CSMS's WebSocket base URL (the station id
    is appended), e.g. ws://127.0.0.1:9000/ocpp."""

    abstract = False
    wait_time = constant(1)
    charger: Charger | None = None

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        number = next(_numbers)
        proto = pick_protocol(parse_mix(opts.protocol_mix), number)
        station = station_id(opts.station_prefix, worker_index(self.environment), number)
        config = ChargerConfig(
            station=station,
            proto=proto,
            meter_interval_s=opts.meter_interval_s,
            heartbeat_s=opts.heartbeat_s or None,
            session_s=opts.session_minutes * 60.0,
            idle_s=opts.idle_s,
            id_tag=opts.id_tag,
            backoff_initial_s=opts.backoff_initial_s,
            backoff_max_s=opts.backoff_max_s,
        )
        report = reporter(self.environment)
        link = Transport(
            f"{(self.host or '').rstrip('/')}/{station}",
            proto,
            report,
            call_timeout_s=opts.call_timeout_s,
            password=opts.password or None,
            tls=TlsOptions(ca_file=opts.ca_file or None, insecure=opts.insecure),
        )
        self.charger = Charger(config, link, GeventRuntime(), report)

    @task
    def live(self) -> None:
        # The charger's own loop never returns: Locust kills the greenlet at the end.
        if self.charger is not None:
            self.charger.run()

    def on_stop(self) -> None:
        if self.charger is not None:
            self.charger.stop()
