"""The injected clock: epoch milliseconds, so tests and replays can pin time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], int]


def system_clock() -> int:
    return time.time_ns() // 1_000_000


def iso_time(ms: int) -> str:
    """Epoch milliseconds as the ISO 8601 UTC text OCPP uses (…T12:00:00.000Z)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
