"""A tariff as OCPP 2.1 says it: the TariffType of SetDefaultTariff, AuthorizeResponse.tariff
and ChangeTransactionTariff (pure translation, no I/O).

How the model maps (csms.domain.tariffs):

* `energy_per_kwh` -> `energy.prices[].priceKwh`; `charging_per_hour` / `idle_per_hour` ->
  `chargingTime` / `idleTime` `.prices[].priceMinute` (per hour / 60); `session_fee` ->
  `fixedFee.prices[].priceFixed`; `min_price` / `max_price` -> `minCost` / `maxCost`
  (`exclTax`: every price of the model excludes tax); `tax_rate` -> `taxRates` [VAT, percent]
  on each priced component.
* Periods -> price entries with `conditions`. 2.1 takes the first entry whose conditions hold,
  as `Tariff.prices_at` takes the first covering period, so each component lists its periods in
  order and ends with the base price without conditions. A period that does not override the
  component still matters when it comes first (its hours keep the base price), so every period
  up to the last one that overrides the component is listed, with the base price if it names
  none. Time of day is "HH:MM" (24:00 -> "00:00", i.e. until midnight); a period across
  midnight on some weekdays becomes two entries (evening on its days, morning on the next days),
  so no reading of how `dayOfWeek` combines with a midnight crossing can change its meaning.
* Components whose every price is zero are left out (nothing to show), except that a tariff
  pricing nothing at all still carries `energy` with priceKwh 0: "free" is said explicitly
  rather than by an empty tariff a station might show as "no price known".

Not expressible in TariffType: the tariff's time zone. 2.1 conditions are in the station's
local time, so the station's TimeZone must be the tariff's (`Tariff.timezone`). The tariff id
goes out as is (versions are told apart by `validFrom`).

Money is Decimal in the model; JSON numbers at the wire edge are unavoidable (the schemas say
`number`), so amounts become int when integral, else float, at the last step only.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from csms.clock import iso_time
from csms.domain.tariffs import ALL_DAYS, WEEKDAYS, Tariff, TariffPeriod

_MINUTES_PER_DAY = 24 * 60
_PRICE_MINUTE = Decimal("0.000001")  # priceMinute: per hour / 60, to 6 decimals
_TIME_COMPONENTS = (
    ("chargingTime", "charging_per_hour"),
    ("idleTime", "idle_per_hour"),
)


def number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: int when integral (JPY 1200 -> 1200), else float."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def tariff_type(tariff: Tariff) -> dict[str, Any]:
    """The OCPP 2.1 TariffType of `tariff` (see the module docstring for the mapping)."""
    out: dict[str, Any] = {"tariffId": tariff.id, "currency": tariff.currency}
    if tariff.description:
        out["description"] = [{"format": "UTF8", "content": tariff.description}]
    if tariff.valid_from_ms > 0:
        out["validFrom"] = iso_time(tariff.valid_from_ms)
    taxes = tax_rates(tariff)
    priced: dict[str, dict[str, Any]] = {}
    for key, field in _TIME_COMPONENTS:
        prices = _prices(tariff, field, "priceMinute", _per_minute)
        if _priced(prices, "priceMinute"):
            priced[key] = _component(prices, taxes)
    if tariff.session_fee:
        priced["fixedFee"] = _component([{"priceFixed": number(tariff.session_fee)}], taxes)
    energy = _prices(tariff, "energy_per_kwh", "priceKwh", number)
    if _priced(energy, "priceKwh") or not priced:
        out["energy"] = _component(energy, taxes)
    out.update(priced)
    if tariff.min_price is not None:
        out["minCost"] = {"exclTax": number(tariff.min_price)}
    if tariff.max_price is not None:
        out["maxCost"] = {"exclTax": number(tariff.max_price)}
    return out


def set_default_tariff_request(tariff: Tariff, evse_id: int = 0) -> dict[str, Any]:
    """SetDefaultTariffRequest (2.1): the tariff for one EVSE, or the whole station (0)."""
    return {"evseId": evse_id, "tariff": tariff_type(tariff)}


def tax_rates(tariff: Tariff) -> list[dict[str, Any]]:
    """TaxRateType list: the tariff's VAT in percent, or none when it has no tax."""
    if tariff.tax_rate <= 0:
        return []
    return [{"type": "VAT", "tax": number(tariff.tax_rate * 100)}]


# --- components -------------------------------------------------------------------------------


def _per_minute(per_hour: Decimal) -> int | float:
    return number((per_hour / 60).quantize(_PRICE_MINUTE, rounding=ROUND_HALF_UP))


def _prices(
    tariff: Tariff, field: str, key: str, convert: Callable[[Decimal], int | float]
) -> list[dict[str, Any]]:
    """One component's price entries: periods (in order, up to the last one that overrides
    `field`), then the base price without conditions."""
    base: Decimal = getattr(tariff, field)
    overriding = [i for i, p in enumerate(tariff.periods) if getattr(p, field) is not None]
    entries: list[dict[str, Any]] = []
    for period in tariff.periods[: overriding[-1] + 1] if overriding else ():
        own = getattr(period, field)
        price = convert(base if own is None else own)
        for conditions in period_conditions(period):
            entry: dict[str, Any] = {key: price}
            if conditions:
                entry["conditions"] = conditions
            entries.append(entry)
    entries.append({key: convert(base)})
    return entries


def _priced(entries: list[dict[str, Any]], key: str) -> bool:
    return any(entry[key] != 0 for entry in entries)


def _component(prices: list[dict[str, Any]], taxes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"prices": prices}
    if taxes:
        out["taxRates"] = [dict(t) for t in taxes]
    return out


def period_conditions(period: TariffPeriod) -> list[dict[str, Any]]:
    """TariffConditionsType for the hours a period covers: one, or two for a period across
    midnight on some weekdays ({} = always)."""
    days = _day_names(period.days)
    start, end = period.start_min, period.end_min
    if start == end:  # the whole day
        return [_with_days({}, days)]
    if start < end or not days:  # within a day, or across midnight on every day
        return [_with_days(_times(start, end), days)]
    parts = []
    if start < _MINUTES_PER_DAY:  # the evening, on the period's own days
        parts.append(_with_days(_times(start, _MINUTES_PER_DAY), days))
    if end > 0:  # the morning after, on the following days
        parts.append(_with_days(_times(0, end), _day_names(_next_days(period.days))))
    return parts


def _times(start: int, end: int) -> dict[str, Any]:
    return {"startTimeOfDay": _hhmm(start), "endTimeOfDay": _hhmm(end)}


def _with_days(conditions: dict[str, Any], days: list[str]) -> dict[str, Any]:
    return {**conditions, "dayOfWeek": days} if days else conditions


def _day_names(days: tuple[int, ...]) -> list[str]:
    """DayOfWeekEnumType names; [] for every day (no condition needed)."""
    if set(days) == set(ALL_DAYS):
        return []
    return [WEEKDAYS[d - 1] for d in sorted(days)]


def _next_days(days: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(d % 7 + 1 for d in days))


def _hhmm(minute: int) -> str:
    minute %= _MINUTES_PER_DAY  # 24:00 is the next midnight: "00:00"
    return f"{minute // 60:02d}:{minute % 60:02d}"
