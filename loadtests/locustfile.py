"""Locust chargers for the CSMS: one OCPP-J charging station per Locust user.

    locust -f loadtests/locustfile.py --headless -u 100 -r 10 -t 10m \
        --host ws://127.0.0.1:9000/ocpp --protocol-mix ocpp1.6=50,ocpp2.0.1=40,ocpp2.1=10

The station id (--station-prefix + worker + number) is appended to the host. Shapes: --shape
ramp|steady|storm (or LOCUST_SHAPE); without one, -u/-r/-t drive the run. Every CALL shows in the
statistics under its action, per protocol (request type OCPP1.6 / OCPP2.0.1 / OCPP2.1); answered
CSMS calls as CSMS-OCPP…; connections as WS connect; storm re-boots as STORM reboot-after-drop.
"""

from __future__ import annotations

import os
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

from loadtests.locust_ocpp import shapes
from loadtests.locust_ocpp.options import parse_mix, register
from loadtests.locust_ocpp.user import OcppCharger, drop_all

__all__ = ["OcppCharger"]


def _options(parser: Any) -> None:
    register(parser)


def _init(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None:
        return
    parse_mix(opts.protocol_mix)  # fail fast on a bad mix, before any user starts
    if environment.runner is not None and not isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(shapes.STORM_MESSAGE, drop_all)
    name = opts.shape or os.environ.get("LOCUST_SHAPE", "")
    if name and name != "none" and not opts.worker:
        shape = shapes.SHAPES[name]()
        shape.runner = environment.runner
        environment.shape_class = shape


# Registered by call: Locust's decorators are untyped.
events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
