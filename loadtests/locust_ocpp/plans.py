"""The shapes' pure time plans (no Locust import: unit-testable, and Locust patches the world
on import)."""

from __future__ import annotations

Tick = tuple[int, float] | None


def ramp_plan(t: float, users: int, ramp_s: float, hold_s: float) -> Tick:
    """Linear ramp to `users` over `ramp_s`, then hold `hold_s`, then stop."""
    if t > ramp_s + hold_s:
        return None
    if t >= ramp_s or ramp_s <= 0:
        return users, float(users)
    target = max(1, round(users * t / ramp_s))
    return target, max(users / ramp_s, 1.0)


def steady_plan(t: float, users: int, rate: float, hold_s: float) -> Tick:
    """All users at the spawn rate, hold `hold_s` after they are all there, then stop."""
    ramp_s = users / rate if rate > 0 else 0.0
    if t > ramp_s + hold_s:
        return None
    return users, rate


def storms_due(t: float, at_s: float, every_s: float, fired: int) -> bool:
    """Whether storm number `fired` (0-based) is due at time t."""
    if every_s <= 0:
        return fired == 0 and t >= at_s
    return t >= at_s + fired * every_s
