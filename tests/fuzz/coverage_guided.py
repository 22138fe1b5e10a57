"""Coverage-guided fuzzing (atheris: libFuzzer for Python) of the parsers that read what peers
send: OCPP-J framing, the `ocpp.frames` envelope, and schema validation of every action.

    python -m tests.fuzz.coverage_guided framing -max_total_time=60

runs one target until the time is up (libFuzzer's flags after the name) and exits 0, or stops
at the first input that raises anything but the target's own refusal, writes it as
`crash-<sha1>` (`-artifact_prefix=`) and exits non-zero: that input becomes a regression test.
`make fuzz` runs every target; tests/fuzz/test_coverage_guided.py runs each briefly in CI.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():  # coverage feedback from our code and the JSON layers
    import orjson

    from csms.envelope import EnvelopeError, decode
    from csms.protocol.errors import FrameRejected
    from csms.protocol.framing import parse
    from csms.protocol.validation import known_actions, validate_call
    from csms.protocol.versions import OcppVersion

ACTIONS = sorted((v, a) for v in OcppVersion for a in known_actions(v))

# Seeds: one valid input of each kind, so the fuzzer starts from the interesting shapes.
SEEDS: dict[str, list[bytes]] = {
    "framing": [
        b'[2,"1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]',
        b'[3,"1",{"status":"Accepted"}]',
        b'[4,"1","InternalError","",{}]',
    ],
    "envelope": [
        b'{"v":1,"id":"e","ts":1,"station":"s","gw":"g","conn":"c","proto":"ocpp1.6",'
        b'"dir":"in","kind":"call","uid":"u","action":"Heartbeat","frame":"[2,\\"u\\",\\"H\\",{}]"}'
    ],
    "validation": [b"\x00\x00" + b'{"connectorId":1,"errorCode":"NoError","status":"Available"}'],
}


def framing(data: bytes) -> None:
    with contextlib.suppress(FrameRejected):
        parse(data)


def envelope(data: bytes) -> None:
    with contextlib.suppress(EnvelopeError):
        decode(data)


def validation(data: bytes) -> None:
    """Two bytes pick the (version, action); the rest is the payload's JSON."""
    if len(data) < 2:
        return
    version, action = ACTIONS[int.from_bytes(data[:2], "big") % len(ACTIONS)]
    try:
        payload = orjson.loads(data[2:])
    except orjson.JSONDecodeError:
        return
    if not isinstance(payload, dict):
        return
    with contextlib.suppress(FrameRejected):
        validate_call(version, "u", action, payload, lenient=bool(data[0] & 1))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "framing": framing,
    "envelope": envelope,
    "validation": validation,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(
            f"usage: python -m tests.fuzz.coverage_guided {{{','.join(sorted(TARGETS))}}} [flags]"
        )
    name = sys.argv[1]
    corpus = [a for a in sys.argv[2:] if not a.startswith("-")]
    for directory in corpus[:1]:  # seed the first corpus directory once
        for i, seed in enumerate(SEEDS[name]):
            path = Path(directory) / f"seed-{i}"
            if not path.exists():
                path.write_bytes(seed)
    atheris.Setup([sys.argv[0], *sys.argv[2:]], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
