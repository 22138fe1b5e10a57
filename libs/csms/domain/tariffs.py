"""Tariffs: what a charging session costs, as data the operator manages and the billing prices.

A tariff version is immutable: editing a tariff creates version n+1, valid from the moment it is
saved (or a later `valid_from`). A session is priced with the version valid when it started
(`version_at`), and with the tariff assigned (`resolve_assignment`) to its id-token group, EVSE,
station or the network default at that moment - so offline sessions uploaded later, or a tariff
edited mid-session, never reprice what the driver agreed to.

Money is `Decimal` everywhere (never float); JSON carries it as strings so nothing is lost on
the way. All prices exclude tax; the tax rate applies to the session's subtotal. Amounts are
rounded half-up to the currency's minor unit (ISO 4217: 2 for EUR, 0 for JPY, 3 for KWD).

Time-of-day / day-of-week periods are in the tariff's time zone (the site's local time, as the
driver reads it on the station); a period overrides the base prices it names, and the first
period that matches wins.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

# ISO 4217 minor units that are not 2 (the rest of the world's currencies use cents).
_MINOR_UNITS = {
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip
# ISO weekday numbers (Monday = 1) and the names OCPP 2.1 uses for them.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)
MAX_PERIODS = 24
MAX_PRICE = Decimal("100000")
# The price fields a period may override.
PERIOD_PRICES = ("energy_per_kwh", "charging_per_hour", "idle_per_hour")
# Bounds of a tariff's memo (`_Derived`): a full one starts afresh (a billing process prices the
# same recent minutes and days over and over: no LRU needed). 16,384 minutes are eleven days.
_PRICES_MEMO, _DATES_MEMO, _CUTS_MEMO = 16_384, 4_096, 1_024
K = TypeVar("K")
V = TypeVar("V")
# Assignment scopes, most specific first: a member's group price beats the EVSE's, which beats
# the station's, which beats the network default.
SCOPES = ("group", "evse", "station", "default")


class TariffError(ValueError):
    """A tariff or an assignment the operator sent that cannot be priced with."""


@dataclass(frozen=True, slots=True)
class TariffPeriod:
    """Prices for some hours of some days. `start_min`/`end_min` are minutes after local
    midnight; end <= start wraps past midnight (22:00-06:00); 00:00-00:00 is the whole day."""

    name: str
    days: tuple[int, ...] = ALL_DAYS
    start_min: int = 0
    end_min: int = 0
    energy_per_kwh: Decimal | None = None
    charging_per_hour: Decimal | None = None
    idle_per_hour: Decimal | None = None

    def covers(self, weekday: int, minute: int) -> bool:
        """Does the period apply at this local weekday (1-7) and minute of the day?"""
        if self.start_min == self.end_min:
            return weekday in self.days
        if self.start_min < self.end_min:
            return weekday in self.days and self.start_min <= minute < self.end_min
        # Wraps: the evening part belongs to `weekday`, the morning part to the day before.
        if minute >= self.start_min:
            return weekday in self.days
        return minute < self.end_min and (weekday - 2) % 7 + 1 in self.days


@dataclass(frozen=True, slots=True)
class Prices:
    """The unit prices in force at one moment (excluding tax), and the period they come from."""

    period: str
    energy_per_kwh: Decimal
    charging_per_hour: Decimal
    idle_per_hour: Decimal


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    currency: str
    version: int = 1
    valid_from_ms: int = 0
    description: str = ""
    energy_per_kwh: Decimal = Decimal(0)
    charging_per_hour: Decimal = Decimal(0)
    idle_per_hour: Decimal = Decimal(0)
    session_fee: Decimal = Decimal(0)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    tax_rate: Decimal = Decimal(0)  # 0.19 = 19 %
    timezone: str = "UTC"
    periods: tuple[TariffPeriod, ...] = ()
    # What pricing asks of this tariff again and again, worked out once (not part of its value).
    _derived: _Derived = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_derived", _Derived(self))

    def prices_at(self, ts_ms: int) -> Prices:
        """The unit prices at an instant: the first period covering its local time, else base.
        (Periods change on whole minutes: the answer is kept per minute.)"""
        derived = self._derived
        if not self.periods:
            return derived.base
        minute = ts_ms // 60_000
        found = derived.prices.get(minute)
        if found is None:
            found = self._prices_at_minute(minute * 60_000)
            _remember(derived.prices, _PRICES_MEMO, minute, found)
        return found

    def _prices_at_minute(self, minute_ms: int) -> Prices:
        local = datetime.fromtimestamp(minute_ms / 1000, tz=self.zone())
        weekday, minute = local.isoweekday(), local.hour * 60 + local.minute
        for p in self.periods:
            if p.covers(weekday, minute):
                return Prices(
                    p.name,
                    _or(p.energy_per_kwh, self.energy_per_kwh),
                    _or(p.charging_per_hour, self.charging_per_hour),
                    _or(p.idle_per_hour, self.idle_per_hour),
                )
        return self._derived.base

    def boundaries(self, start_ms: int, end_ms: int) -> list[int]:
        """The instants strictly inside (start, end) where a period may begin or end, sorted:
        splitting a span there leaves each piece under one set of prices. (The candidates are
        the period edges of the local days from the day before the start's to the end's.)"""
        return list(self.cuts(start_ms, end_ms))

    def cuts(self, start_ms: int, end_ms: int) -> tuple[int, ...]:
        """`boundaries`, as a tuple; the last answer is kept (a billing walk asks for the same
        span twice in a row, for its energy and for its time)."""
        if not self.periods or end_ms <= start_ms:
            return ()
        derived = self._derived
        if derived.last[0] == start_ms and derived.last[1] == end_ms:
            return derived.last[2]
        first = derived.local_date(self.timezone, start_ms) - timedelta(days=1)
        last = derived.local_date(self.timezone, end_ms)
        edges = derived.cuts.get((first.toordinal(), last.toordinal()))
        if edges is None:
            edges = derived.remember_cuts(self.timezone, first, last)
        found = edges[bisect_right(edges, start_ms) : bisect_left(edges, end_ms)]
        derived.last = (start_ms, end_ms, found)
        return found

    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def round(self, amount: Decimal) -> Decimal:
        return round_money(amount, self.currency)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, money as strings; `parse_tariff` is the inverse."""
        return {
            "id": self.id,
            "version": self.version,
            "valid_from_ms": self.valid_from_ms,
            "description": self.description,
            "currency": self.currency,
            "energy_per_kwh": str(self.energy_per_kwh),
            "charging_per_hour": str(self.charging_per_hour),
            "idle_per_hour": str(self.idle_per_hour),
            "session_fee": str(self.session_fee),
            "min_price": _text(self.min_price),
            "max_price": _text(self.max_price),
            "tax_rate": str(self.tax_rate),
            "timezone": self.timezone,
            "periods": [_period_dict(p) for p in self.periods],
        }


def parse_tariff(d: Mapping[str, Any], *, tariff_id: str | None = None) -> Tariff:
    """A tariff from operator JSON (money as strings or numbers); TariffError says what is
    wrong. `tariff_id` overrides the body's id (the API's path parameter)."""
    if not isinstance(d, Mapping):
        raise TariffError("a tariff is a JSON object")
    tid = str(tariff_id if tariff_id is not None else d.get("id") or "").strip()
    if not tid or len(tid) > 60 or "/" in tid:
        raise TariffError("id: 1 to 60 characters, no '/' (OCPP 2.1 tariffId is at most 60)")
    currency = str(d.get("currency") or "").strip()
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise TariffError("currency: an ISO 4217 code such as EUR")
    timezone = str(d.get("timezone") or "UTC")
    _zone(timezone)  # raises TariffError for an unknown zone
    tariff = Tariff(
        id=tid,
        currency=currency,
        version=_int(d, "version", 1),
        valid_from_ms=_int(d, "valid_from_ms", 0),
        description=str(d.get("description") or "")[:500],
        energy_per_kwh=_price(d, "energy_per_kwh"),
        charging_per_hour=_price(d, "charging_per_hour"),
        idle_per_hour=_price(d, "idle_per_hour"),
        session_fee=_price(d, "session_fee"),
        min_price=_price_opt(d, "min_price"),
        max_price=_price_opt(d, "max_price"),
        tax_rate=_rate(d.get("tax_rate", 0)),
        timezone=timezone,
        periods=_periods(d.get("periods") or ()),
    )
    if (
        tariff.min_price is not None
        and tariff.max_price is not None
        and tariff.min_price > tariff.max_price
    ):
        raise TariffError("min_price is above max_price")
    return tariff


def parse_stored(stored: Mapping[str, Any]) -> Tariff:
    """A stored tariff version (`Tariff.to_dict`, as the billing state and the gateway's cost
    checkpoint carry it), parsed once per process: parsing is a quarter of the billing's or
    the gateway's work per event and a network has few tariffs. Keyed on the exact JSON, so
    an edited tariff (a new version) is never served stale; Tariff is frozen, so one instance
    serves every caller."""
    return _parse_stored(orjson.dumps(stored, option=orjson.OPT_SORT_KEYS))


@functools.lru_cache(maxsize=1024)
def _parse_stored(text: bytes) -> Tariff:
    return parse_tariff(orjson.loads(text))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit (ISO 4217)."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=256)
def _minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount (0.01 EUR): asked for every amount of every bill."""
    return Decimal(1).scaleb(-minor_units(currency))


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def version_at(versions: Iterable[Tariff], at_ms: int) -> Tariff | None:
    """The version valid at `at_ms`: the newest one valid from no later than then. A session
    that started before the tariff's first version (an old offline session) gets the first."""
    ordered = sorted(versions, key=lambda t: (t.valid_from_ms, t.version))
    if not ordered:
        return None
    valid = [t for t in ordered if t.valid_from_ms <= at_ms]
    return valid[-1] if valid else ordered[0]


def scope_keys(station: str, evse: int, group: str | None) -> list[str]:
    """The assignment keys that could apply to a session, most specific first (SCOPES)."""
    keys = [f"group:{group}"] if group else []
    if evse > 0:
        keys.append(f"evse:{station}:{evse}")
    return [*keys, f"station:{station}", "default"]


def assignment_key(scope: str, *, station: str = "", evse: int = 0, group: str = "") -> str:
    """The key of one assignment scope; TariffError when the scope lacks what it needs."""
    if scope == "default":
        return "default"
    if scope == "station" and station:
        return f"station:{station}"
    if scope == "evse" and station and evse > 0:
        return f"evse:{station}:{evse}"
    if scope == "group" and group:
        return f"group:{group}"
    raise TariffError(
        "scope: one of default, station (with station), evse (with station and evse > 0), "
        "group (with group)"
    )


def resolve_assignment(
    history: Mapping[str, Sequence[Sequence[Any]]], keys: Sequence[str], at_ms: int
) -> str | None:
    """The tariff id assigned at `at_ms` to the most specific of `keys`. `history[key]` lists
    [valid_from_ms, tariff_id or None] entries (None: unassigned from then on). A session that
    started before any assignment was valid (an old offline session) gets the earliest one of
    the most specific key that has any - never a future assignment over a current one."""
    ordered = [sorted(history.get(key) or (), key=lambda e: int(e[0])) for key in keys]
    for entries in ordered:
        current = [e for e in entries if int(e[0]) <= at_ms]
        if current and current[-1][1]:
            return str(current[-1][1])
    if any(int(e[0]) <= at_ms for entries in ordered for e in entries):
        return None  # something was valid then (and unassigned): no fallback
    for entries in ordered:
        if entries and entries[0][1]:
            return str(entries[0][1])
    return None


def at_version(tariff: Tariff, version: int, valid_from_ms: int) -> Tariff:
    return replace(tariff, version=version, valid_from_ms=valid_from_ms)


# --- parsing helpers ------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TariffError(f"timezone: unknown time zone {name[:60]!r}") from exc


@functools.lru_cache(maxsize=16_384)
def _day_cuts(timezone: str, ordinal: int, minutes: tuple[int, ...]) -> tuple[int, ...]:
    """The instants of one local day at which periods begin or end (cached: a billing walk
    asks for the same days over and over)."""
    day, zone = date.fromordinal(ordinal), _zone(timezone)
    return tuple(_local_ms(day, m, zone) for m in minutes)


class _Derived:
    """A tariff's memo of what a billing walk asks at every step (`Tariff.prices_at`, `cuts`):
    pure functions of the tariff, each answer worked out once."""

    __slots__ = ("base", "cuts", "dates", "last", "minutes", "prices", "zone")

    def __init__(self, tariff: Tariff) -> None:
        t = tariff
        self.base = Prices("base", t.energy_per_kwh, t.charging_per_hour, t.idle_per_hour)
        self.zone: ZoneInfo | None = None  # looked up at the first boundaries asked
        self.minutes = tuple(sorted({m for p in tariff.periods for m in (p.start_min, p.end_min)}))
        self.prices: dict[int, Prices] = {}
        self.cuts: dict[tuple[int, int], tuple[int, ...]] = {}
        self.dates: dict[int, date] = {}
        self.last: tuple[int, int, tuple[int, ...]] = (0, 0, ())  # the last span's cuts

    def local_date(self, timezone: str, ms: int) -> date:
        """The local date of an instant (one span's end is the next one's start)."""
        found = self.dates.get(ms)
        if found is None:
            self.zone = self.zone or _zone(timezone)
            found = datetime.fromtimestamp(ms / 1000, tz=self.zone).date()
            _remember(self.dates, _DATES_MEMO, ms, found)
        return found

    def remember_cuts(self, timezone: str, first: date, last: date) -> tuple[int, ...]:
        """The period edges of local days `first`..`last`, sorted, each instant once."""
        span = range(first.toordinal(), last.toordinal() + 1)
        cuts = tuple(sorted({ms for o in span for ms in _day_cuts(timezone, o, self.minutes)}))
        return _remember(self.cuts, _CUTS_MEMO, (first.toordinal(), last.toordinal()), cuts)


def _remember(memo: dict[K, V], bound: int, key: K, value: V) -> V:
    """`memo[key] = value`, the memo emptied first when it is full."""
    if len(memo) >= bound:
        memo.clear()
    memo[key] = value
    return value


def _local_ms(day: date, minute: int, zone: ZoneInfo) -> int:
    """Epoch ms of a local wall time (minute 1440 = the next midnight)."""
    moment = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
    # timedelta arithmetic on an aware datetime keeps the wall clock: convert through UTC.
    return int(moment.astimezone(UTC).timestamp() * 1000)


def _or(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _period_dict(p: TariffPeriod) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": p.name,
        "days": [WEEKDAYS[day - 1] for day in p.days],
        "start": f"{p.start_min // 60:02d}:{p.start_min % 60:02d}",
        "end": f"{p.end_min // 60:02d}:{p.end_min % 60:02d}",
    }
    for name in PERIOD_PRICES:
        value = getattr(p, name)
        if value is not None:
            d[name] = str(value)
    return d


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise TariffError(f"{what}: a number (as a JSON number or a string)")
    try:
        # str() first: Decimal(0.1) would carry the float's binary error into the money.
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise TariffError(f"{what}: not a number") from exc
    if not number.is_finite():
        raise TariffError(f"{what}: not a finite number")
    return number


def _price(d: Mapping[str, Any], name: str) -> Decimal:
    value = d.get(name)
    return Decimal(0) if value is None else _checked_price(value, name)


def _price_opt(d: Mapping[str, Any], name: str) -> Decimal | None:
    value = d.get(name)
    return None if value is None else _checked_price(value, name)


def _checked_price(value: Any, what: str) -> Decimal:
    price = _decimal(value, what)
    if price < 0 or price > MAX_PRICE:
        raise TariffError(f"{what}: between 0 and {MAX_PRICE}")
    return price


def _rate(value: Any) -> Decimal:
    rate = _decimal(value, "tax_rate")
    if rate < 0 or rate >= 1:
        raise TariffError("tax_rate: a fraction from 0 to below 1 (0.19 for 19 %)")
    return rate


def _int(d: Mapping[str, Any], name: str, default: int) -> int:
    value = d.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TariffError(f"{name}: a non-negative integer")
    return value


def _periods(raw: Any) -> tuple[TariffPeriod, ...]:
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_PERIODS:
        raise TariffError(f"periods: a list of at most {MAX_PERIODS} periods")
    return tuple(_period(p, i) for i, p in enumerate(raw))


def _period(raw: Any, index: int) -> TariffPeriod:
    where = f"periods[{index}]"
    if not isinstance(raw, Mapping):
        raise TariffError(f"{where}: an object")
    prices = {
        name: _checked_price(raw[name], f"{where}.{name}")
        for name in PERIOD_PRICES
        if raw.get(name) is not None
    }
    if not prices:
        raise TariffError(f"{where}: names at least one of {', '.join(PERIOD_PRICES)}")
    return TariffPeriod(
        name=str(raw.get("name") or f"period-{index + 1}")[:40],
        days=_days(raw.get("days"), where),
        start_min=_minute(raw.get("start", "00:00"), f"{where}.start"),
        end_min=_minute(raw.get("end", "00:00"), f"{where}.end"),
        **prices,
    )


def _days(raw: Any, where: str) -> tuple[int, ...]:
    if raw is None:
        return ALL_DAYS
    if not isinstance(raw, (list, tuple)) or not raw:
        raise TariffError(f"{where}.days: a non-empty list of weekdays")
    days: set[int] = set()
    for day in raw:
        if isinstance(day, str) and day.capitalize() in WEEKDAYS:
            days.add(WEEKDAYS.index(day.capitalize()) + 1)
        elif isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
            days.add(day)
        else:
            raise TariffError(f"{where}.days: Monday..Sunday or 1 (Monday)..7 (Sunday)")
    return tuple(sorted(days))


def _minute(raw: Any, what: str) -> int:
    text = str(raw)
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise TariffError(f"{what}: HH:MM in 24-hour local time")
    h, m = int(hours), int(minutes)
    if h > 24 or m > 59 or (h == 24 and m):
        raise TariffError(f"{what}: HH:MM in 24-hour local time")
    return h * 60 + m
