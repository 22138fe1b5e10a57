"""How long the fuzz tests search: bounded in `make test` (CI), long in `make fuzz`.

`FUZZ_EXAMPLES` sets the examples per property (default 200, `make fuzz` 20,000); every test
here takes its settings from `fuzz_settings()`, so one variable scales the whole run. Hypothesis
keeps the failing examples it found in its database and tries them first on the next run; each
crash fixed is also written out as a plain regression test beside the property."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 200


def examples() -> int:
    return int(os.environ.get("FUZZ_EXAMPLES", DEFAULT_EXAMPLES))


def fuzz_settings(scale: float = 1.0) -> settings:
    """Settings of one property; `scale` for the slow ones (a fold of a whole corpus)."""
    return settings(
        max_examples=max(10, int(examples() * scale)),
        deadline=None,  # shared, noisy machines: no wall-clock limits in tests
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
