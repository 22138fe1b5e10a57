"""The locustfile's own command-line options, and the pure parsing of their values.

Registered with `include_in_web_ui` so the master forwards them to its workers (Locust sends
every parsed option to the workers when a run starts).
"""

from __future__ import annotations

import hashlib
from typing import Any

from loadtests.ocpp_payloads import PROTOCOLS

DEFAULT_MIX = "ocpp1.6=50,ocpp2.0.1=40,ocpp2.1=10"
SHAPES = ("none", "ramp", "steady", "storm")


def parse_mix(text: str) -> list[tuple[str, float]]:
    """ "ocpp1.6=50,ocpp2.0.1=40,ocpp2.1=10" -> [(proto, share)], shares summing to 1."""
    mix: list[tuple[str, float]] = []
    for part in text.split(","):
        if not part.strip():
            continue
        proto, _, weight = part.partition("=")
        proto = proto.strip()
        if proto not in PROTOCOLS:
            raise ValueError(f"unknown protocol {proto!r} (one of {', '.join(PROTOCOLS)})")
        value = float(weight) if weight.strip() else 1.0
        if value < 0:
            raise ValueError(f"negative weight for {proto}")
        mix.append((proto, value))
    total = sum(w for _, w in mix)
    if total <= 0:
        raise ValueError(f"protocol mix {text!r} has no positive weight")
    return [(p, w / total) for p, w in mix]


def pick_protocol(mix: list[tuple[str, float]], index: int) -> str:
    """The protocol of user number `index`: deterministic, and spread evenly so that any prefix
    of N users follows the mix within one user (a low-discrepancy sequence, not random draws)."""
    point = ((index * 0.6180339887498949) + _salt()) % 1.0
    acc = 0.0
    for proto, share in mix:
        acc += share
        if point < acc:
            return proto
    return mix[-1][0]


def _salt() -> float:
    return int(hashlib.sha1(b"locust-ocpp").hexdigest()[:8], 16) / 2**32


def station_id(prefix: str, worker: int, index: int) -> str:
    """Unique per worker process: `<prefix><worker>-<index>` (worker 0 in local runs)."""
    return f"{prefix}{worker}-{index:06d}"


def register(parser: Any) -> None:
    """Add the options to Locust's configargparse parser."""
    group = parser.add_argument_group("OCPP chargers (loadtests/locust_ocpp)")
    add = group.add_argument
    add("--station-prefix", default="LOCUST-", help="station id prefix (id = prefix + worker-n)")
    add("--protocol-mix", default=DEFAULT_MIX, help="subprotocol weights, e.g. ocpp1.6=1")
    add("--meter-interval-s", type=float, default=60.0, help="seconds between meter values")
    add("--heartbeat-s", type=float, default=0.0, help="heartbeat period; 0 = the CSMS's")
    add("--session-minutes", type=float, default=10.0, help="length of a charging session")
    add("--idle-s", type=float, default=60.0, help="idle time between sessions")
    add("--call-timeout-s", type=float, default=30.0, help="CALL answer timeout (a failure)")
    add("--id-tag", default="LOCUST-TAG", help="id token the chargers authorize with")
    add("--password", default="", help="Basic auth password (user = station id); empty = none")
    add("--ca-file", default="", help="CA bundle for wss:// hosts")
    add("--insecure", action="store_true", default=False, help="wss: skip certificate checks")
    add("--backoff-initial-s", type=float, default=1.0, help="first reconnect delay")
    add("--backoff-max-s", type=float, default=60.0, help="reconnect delay cap")
    add("--shape", default="", choices=("", *SHAPES), help="load shape (or env LOCUST_SHAPE)")
    add("--ramp-s", type=float, default=60.0, help="ramp shape: seconds to reach -u users")
    add("--hold-s", type=float, default=300.0, help="shapes: seconds to hold after ramp/storm")
    add("--storm-at-s", type=float, default=60.0, help="storm shape: drop everything at this s")
    add("--storm-every-s", type=float, default=0.0, help="storm shape: repeat; 0 = once")
