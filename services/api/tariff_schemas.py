"""Request and response models of tariffs, tariff assignments and bills.

Money is a decimal string in every response (never a float: nothing is lost on the way);
requests accept strings or JSON numbers. Validation of a tariff's content is
csms.domain.tariffs.parse_tariff's: these models give the shape and the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from csms.domain.tariffs import Tariff
from services.api.params import StationIdBody
from services.api.schemas import IsoTime
from services.api.views import iso_ms

MoneyIn = Annotated[
    StrictStr | StrictInt | StrictFloat,
    Field(description="a decimal amount: a string (preferred) or a JSON number", examples=["0.35"]),
]
Money = Annotated[str, Field(description="a decimal amount, as a string", examples=["0.35"])]
TariffId = Annotated[
    str,
    Field(min_length=1, max_length=60, pattern=r"^[^/]+$", examples=["STANDARD-AC"]),
]
Scope = Literal["default", "station", "evse", "group"]


class TariffPeriodBody(BaseModel):
    """Prices for some hours of some days, in the tariff's time zone; they override the base
    prices they name. The first period that covers an instant wins."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=40, examples=["peak"])
    days: list[StrictStr | StrictInt] | None = Field(
        default=None,
        description="Monday..Sunday or 1 (Monday)..7 (Sunday); omitted = every day",
        examples=[["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]],
    )
    start: str = Field(default="00:00", description="HH:MM local", examples=["17:00"])
    end: str = Field(
        default="00:00",
        description="HH:MM local; end <= start wraps past midnight; 00:00-00:00 = all day",
        examples=["20:00"],
    )
    energy_per_kwh: MoneyIn | None = None
    charging_per_hour: MoneyIn | None = None
    idle_per_hour: MoneyIn | None = None


class TariffBody(BaseModel):
    """A tariff as the operator writes it. Prices exclude tax."""

    model_config = ConfigDict(extra="forbid")

    id: TariffId | None = Field(
        default=None, description="required to create; on PUT it must match the path or be omitted"
    )
    currency: str = Field(description="ISO 4217 code", examples=["EUR"])
    description: str | None = Field(default=None, max_length=500)
    energy_per_kwh: MoneyIn | None = Field(default=None, description="per kWh delivered")
    charging_per_hour: MoneyIn | None = Field(
        default=None, description="per hour while energy flows (charging time)"
    )
    idle_per_hour: MoneyIn | None = Field(
        default=None, description="per hour plugged in without charging (parking/blocking fee)"
    )
    session_fee: MoneyIn | None = Field(default=None, description="once per session")
    min_price: MoneyIn | None = Field(default=None, description="floor of the subtotal")
    max_price: MoneyIn | None = Field(default=None, description="cap of the subtotal")
    tax_rate: MoneyIn | None = Field(
        default=None, description="fraction applied to the subtotal: 0.19 for 19 %"
    )
    timezone: str | None = Field(
        default=None, description="IANA zone the periods are in; default UTC"
    )
    periods: list[TariffPeriodBody] | None = Field(default=None, max_length=24)
    valid_from_ms: int | None = Field(
        default=None,
        ge=0,
        description="epoch ms from which this version applies; default (and at the earliest) "
        "the moment it is saved",
    )
    version: int | None = Field(
        default=None, description="ignored: the CSMS numbers versions (lets a GET be PUT back)"
    )

    def to_tariff_json(self) -> dict[str, Any]:
        """What csms.domain.tariffs.parse_tariff reads (unset fields take its defaults)."""
        return self.model_dump(exclude_none=True, exclude={"version"})


class TariffPeriodView(BaseModel):
    name: str
    days: list[str]
    start: str
    end: str
    energy_per_kwh: Money | None = None
    charging_per_hour: Money | None = None
    idle_per_hour: Money | None = None


class TariffView(BaseModel):
    """One immutable tariff version."""

    id: str
    version: int
    valid_from_ms: int = Field(description="epoch ms from which this version prices sessions")
    valid_from: IsoTime
    description: str
    currency: str
    energy_per_kwh: Money
    charging_per_hour: Money
    idle_per_hour: Money
    session_fee: Money
    min_price: Money | None
    max_price: Money | None
    tax_rate: Money
    timezone: str
    periods: list[TariffPeriodView]


class TariffVersionSummary(BaseModel):
    version: int
    valid_from_ms: int
    valid_from: IsoTime


class TariffDetail(TariffView):
    """The latest version, and every version's validity."""

    versions: list[TariffVersionSummary] = Field(description="oldest first")


class TariffList(BaseModel):
    items: list[TariffView] = Field(description="the latest version of each tariff, by id")


class ResolvedTariff(BaseModel):
    """Which tariff version would price a session started at `at_ms`, and why."""

    at_ms: int
    assignment: str = Field(
        description="the assignment key that decided", examples=["evse:CP-1:2", "default"]
    )
    tariff: TariffView


class AssignmentBody(BaseModel):
    """Assign a tariff to a scope from now (or a later `valid_from_ms`) on; null unassigns."""

    model_config = ConfigDict(extra="forbid")

    scope: Scope = Field(description="precedence: group > evse > station > default")
    station: str | None = Field(default=None, max_length=48, description="station and evse")
    evse: int | None = Field(default=None, ge=1, description="evse scope: the EVSE id")
    group: str | None = Field(default=None, max_length=255, description="id-token group id")
    tariff_id: str | None = Field(description="the tariff; null = no tariff from then on")
    valid_from_ms: int | None = Field(default=None, ge=0, description="epoch ms; default now")


class TariffPushBody(BaseModel):
    """Which station (and EVSE) gets a tariff as its default (OCPP 2.1 SetDefaultTariff)."""

    model_config = ConfigDict(extra="forbid")

    station_id: StationIdBody = Field(description="an OCPP 2.1 station")
    evse_id: int = Field(default=0, ge=0, description="the EVSE; 0 = the whole station")
    version: int | None = Field(
        default=None, ge=1, description="the tariff version to send; default the latest"
    )


class AssignmentEntry(BaseModel):
    valid_from_ms: int
    valid_from: IsoTime
    tariff_id: str | None


class AssignmentView(BaseModel):
    key: str = Field(examples=["default", "station:CP-1", "evse:CP-1:2", "group:FLEET-7"])
    history: list[AssignmentEntry] = Field(description="oldest first; the latest valid wins")


class AssignmentList(BaseModel):
    items: list[AssignmentView] = Field(description="by key")


class BillItem(BaseModel):
    component: str = Field(
        examples=["energy", "charging_time", "idle_time", "session_fee", "minimum_price"]
    )
    period: str = Field(description="tariff period name, 'base', or '' for fees/adjustments")
    quantity: str = Field(description="in `unit`, decimal string")
    unit: str = Field(examples=["kWh", "h", "session"])
    unit_price: Money
    amount: Money = Field(description="rounded to the currency's minor unit, excluding tax")


class BillView(BaseModel):
    """A transaction's bill, as the billing processor computed it (running or final)."""

    state: Literal["running", "final"]
    revision: int = Field(
        default=0, description="0 while running; 1, 2, ... for each final bill published"
    )
    station: str
    transaction_id: str
    evse: int | None = None
    id_token: str | None = None
    tariff_id: str
    tariff_version: int
    currency: str
    items: list[BillItem]
    subtotal: Money = Field(description="excluding tax, after min/max price")
    tax_rate: Money
    tax: Money
    total: Money = Field(description="including tax")
    energy_wh: str = Field(description="Wh delivered, decimal string")
    charging_s: int
    idle_s: int
    started_ms: int | None = None
    priced_until_ms: int | None = None
    ended_ms: int | None = None
    computed_ms: int | None = None
    flags: list[str] = Field(default_factory=list, examples=[["meter_reset"]])


def tariff_view(tariff: Tariff) -> TariffView:
    data = tariff.to_dict()
    return TariffView(**data, valid_from=iso_ms(tariff.valid_from_ms))


def tariff_detail(versions: list[Tariff]) -> TariffDetail:
    """The latest of `versions` (oldest first, not empty) with the summary of all."""
    latest = versions[-1].to_dict()
    summary = [
        TariffVersionSummary(
            version=t.version, valid_from_ms=t.valid_from_ms, valid_from=iso_ms(t.valid_from_ms)
        )
        for t in versions
    ]
    return TariffDetail(**latest, valid_from=iso_ms(versions[-1].valid_from_ms), versions=summary)


def assignment_view(key: str, history: list[list[Any]]) -> AssignmentView:
    entries = [
        AssignmentEntry(
            valid_from_ms=int(ms), valid_from=iso_ms(int(ms)), tariff_id=None if t is None else t
        )
        for ms, t in history
    ]
    return AssignmentView(key=key, history=entries)
