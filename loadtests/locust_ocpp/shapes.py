"""Load shapes: ramp-up, steady state and reconnect storm.

Each reads -u (users, default 10), -r (spawn rate) and the locustfile's options. The shapes are
not in the locustfile's namespace (Locust would always pick one up); the locustfile installs the
one chosen with --shape or LOCUST_SHAPE at init. The time-to-users plans are pure functions.

Storm: the shape holds N chargers, then at --storm-at-s (and every --storm-every-s after, if
set) sends the custom message "ocpp-storm" to every worker (to itself in a local run); each
process's listener drops every live connection at once. Every charger then reconnects with its
usual exponential backoff and jitter, boots again, and reports the time from drop to accepted
boot as request type STORM, name "reboot-after-drop" (plus the usual connect / BootNotification
rows, which show the storm's effect on the CSMS).
"""

from __future__ import annotations

import time
from typing import Any

from locust import LoadTestShape

from loadtests.locust_ocpp.plans import Tick, ramp_plan, steady_plan, storms_due

STORM_MESSAGE = "ocpp-storm"


def _elapsed(shape: LoadTestShape) -> float:
    return time.perf_counter() - float(shape.start_time)


def _opts(shape: LoadTestShape) -> tuple[Any, int, float]:
    assert shape.runner is not None
    opts = shape.runner.environment.parsed_options
    users = int(getattr(opts, "num_users", None) or 10)
    rate = float(getattr(opts, "spawn_rate", None) or users)
    return opts, users, rate


class RampUp(LoadTestShape):
    use_common_options = True

    def tick(self) -> Tick:
        opts, users, _ = _opts(self)
        return ramp_plan(_elapsed(self), users, opts.ramp_s, opts.hold_s)


class SteadyState(LoadTestShape):
    use_common_options = True

    def tick(self) -> Tick:
        opts, users, rate = _opts(self)
        return steady_plan(_elapsed(self), users, rate, opts.hold_s)


class ReconnectStorm(LoadTestShape):
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.fired = 0

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        self.fired = 0

    def tick(self) -> Tick:
        opts, users, rate = _opts(self)
        t = _elapsed(self)
        if storms_due(t, opts.storm_at_s, opts.storm_every_s, self.fired):
            assert self.runner is not None
            self.runner.send_message(STORM_MESSAGE, {"n": self.fired})
            self.fired += 1
        last = opts.storm_at_s + max(0, self.fired - 1) * max(0.0, opts.storm_every_s)
        if self.fired and opts.storm_every_s <= 0 and t > last + opts.hold_s:
            return None
        return users, rate


SHAPES: dict[str, type[LoadTestShape]] = {
    "ramp": RampUp,
    "steady": SteadyState,
    "storm": ReconnectStorm,
}
