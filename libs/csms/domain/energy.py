"""The energy a session delivered: one definition, used by the transaction and by its bill.

A transaction's energy is its latest energy-register reading minus its baseline (both chosen by
csms.domain.transactions), computed by `delivered_wh`. The bill prices exactly that figure
(csms.domain.session_bill spreads it over the tariff periods by the readings' shape), so a bill
and its transaction can never disagree on energy.

A register that went down either wrapped (it was near a power of ten and now reads near zero:
the energy across the wrap counts, flag `meter_rollover`) or was reset or replaced (nothing is
counted: a driver is never billed for energy nobody can show they got, flag `meter_reset`).
Figures are rounded to the milliwatt-hour, so the float a transaction shows and the Decimal a
bill prices are the same number.
"""

from __future__ import annotations

import math
from decimal import Decimal

ROLLOVER = "meter_rollover"
RESET = "meter_reset"
# A register counting up to a power of ten wrapped when it was within this share of the top
# and now reads within this share of zero.
_WRAP_SHARE = 0.05
_DECIMALS = 3  # Wh, to the mWh


def delta_wh(before: float, after: float) -> tuple[float, str]:
    """The energy between two register readings in Wh (rounded to the mWh), and the flag when
    the register went down ("" when it did not)."""
    if after >= before:
        return round(after - before, _DECIMALS), ""
    if _wrapped(before, after):
        return round(register_top(before) - before + after, _DECIMALS), ROLLOVER
    return 0.0, RESET


def delivered_wh(baseline: float | None, latest: float | None) -> tuple[float, str]:
    """A transaction's energy: from its baseline reading to its latest (0 when either is
    unknown), with the flag of `delta_wh`."""
    if baseline is None or latest is None:
        return 0.0, ""
    return delta_wh(baseline, latest)


def as_decimal(wh: float) -> Decimal:
    """An energy figure as the exact decimal a bill prices (the float's shortest repr)."""
    return Decimal(repr(round(wh, _DECIMALS)))


def register_top(wh: float) -> float:
    """The power of ten a (positive, finite) register reading `wh` counts up to."""
    return float(10 ** max(1, math.ceil(math.log10(wh + 1))))


def _wrapped(before: float, after: float) -> bool:
    if not before > 0 or not math.isfinite(before):  # a negative or broken register never wrapped
        return False
    top = register_top(before)
    return before >= top * (1 - _WRAP_SHARE) and after <= top * _WRAP_SHARE
