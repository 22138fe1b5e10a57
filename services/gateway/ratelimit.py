"""Per-station token bucket: a station may send `rate` frames per second with bursts of `burst`.

One bucket per connection, refilled lazily on each frame (no timers), so 50,000 idle stations
cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    __slots__ = ("_burst", "_clock", "_last", "_rate", "_tokens", "overflows")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(max(burst, 1))
        self._tokens = self._burst
        self._clock = clock
        self._last = clock()
        # Frames refused in a row: a station that keeps flooding is disconnected.
        self.overflows = 0

    def take(self) -> bool:
        """Spend one token; False when the station is over its rate."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.overflows = 0
            return True
        self.overflows += 1
        return False
