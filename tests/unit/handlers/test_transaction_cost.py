"""The session's cost in the 2.0.1 / 2.1 TransactionEventResponse: the gateway folds
the events its connection carried with the billing projection's own code, on top of the
billing's checkpoint or from nothing when the billing has not caught up, and tells the station
exactly what the bill will say. Every expectation below is the bill the real transactions and
billing steps issue for the same frames (tests.unit.processors.billing_harness)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from csms.domain.billing import cost_message
from csms.domain.session_bill import Display
from csms.domain.tariffs import Tariff, parse_tariff
from csms.domain.transactions import tx_key
from csms.envelope import FrameEnvelope
from csms.handlers import CallContext, routes
from csms.handlers.v201.transaction_cost import ConnectionCost
from csms.infra import redis_keys
from csms.infra.billing_lookups import BillingLookups
from csms.infra.memory_redis import MemoryRedis
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from tests.unit.domain.builders import Session, mv201, sv201, transaction_event
from tests.unit.gateway.fakes import FixedDecisions
from tests.unit.processors.billing_harness import MIN, Harness

STATION, TX = "CP-COST", "tx-1"
SHOWS = Display(final=True, message=True, cost_updated=True)
# 2025-11-24T21:30:00Z: the session crosses 22:00 UTC, where the night period begins.
T0 = 1_764_021_600_000 - 30 * MIN
TARIFF = parse_tariff(
    {
        "id": "ac-standard",
        "currency": "EUR",
        "energy_per_kwh": "0.35",
        "charging_per_hour": "1.20",
        "idle_per_hour": "6.00",
        "session_fee": "0.50",
        "tax_rate": "0.19",
        "periods": [{"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.21"}],
    }
)


class Source:
    """A CostSource over the harness's billing store (what Redis would hold)."""

    def __init__(self, harness: Harness, display: Display = SHOWS) -> None:
        self.h, self._display = harness, display
        self.display_lookups = self.checkpoint_lookups = 0

    async def display(self, station: str, proto: str) -> Display:
        self.display_lookups += 1
        return self._display

    async def checkpoint(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        self.checkpoint_lookups += 1
        return self.h.store.checkpoints.get(tx_key(station, transaction_id))

    async def final_bill(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        state = self.h.store.bills.get(tx_key(station, transaction_id)) or {}
        bill = state.get("bill")
        return bill if bill and bill.get("state") == "final" else None

    async def tariff_for(self, station: str, evse: int, id_token: str, at_ms: int) -> Tariff | None:
        return self.h.lookups.tariff


def event(kind: str, seq: int, ts: int, wh: float | None, state: str | None = None) -> Any:
    mv = None if wh is None else [mv201(ts, sv201(wh, unit="Wh"))]
    extra: dict[str, Any] = {}
    if kind == "Started":
        extra = {"evse": (1, 1), "id_token": "DRIVER", "trigger": "Authorized"}
    if kind == "Ended":
        extra = {"stopped_reason": "Local", "trigger": "StopAuthorized"}
    return transaction_event(
        kind, TX, seq, ts, meter_values=mv, charging_state=state or "Charging", **extra
    )


def frames(payloads: list[dict[str, Any]]) -> list[FrameEnvelope]:
    s = Session(STATION, "ocpp2.0.1", t0=T0 + 60 * MIN)  # received a little later
    return [s.call("TransactionEvent", p) for p in payloads]


async def answers(cost: ConnectionCost, envs: list[FrameEnvelope]) -> list[dict[str, Any]]:
    out = []
    for env in envs:
        payload = orjson.loads(env.frame)[3]
        out.append(await cost.answer(payload, env.ts))
    return out


SESSION = [
    event("Started", 0, T0, 1000.0),
    event("Updated", 1, T0 + 20 * MIN, 5000.0),
    event("Updated", 2, T0 + 45 * MIN, 9000.0, "SuspendedEV"),
    event("Ended", 3, T0 + 55 * MIN, 9400.0, "EVConnected"),
]


async def test_back_to_back_events_before_any_billing_are_told_the_final_bill() -> None:
    # The issue's case: one-second clock, Started 0 / Updated 5 kWh / Ended 10 kWh at one
    # instant, answered before the billing has seen any of them.
    same = [event("Started", 0, T0, 0.0), event("Updated", 1, T0, 5000.0)]
    envs = frames([*same, event("Ended", 2, T0, 10_000.0)])
    h = Harness(TARIFF, SHOWS)
    told = await answers(ConnectionCost(Source(h), STATION, "ocpp2.0.1"), envs)
    await h.feed(*envs)
    bill = h.final()
    assert bill["energy_wh"] == "10000.000" == f"{h.snapshots[-1]['energy_wh']:.3f}"
    assert told[-1]["totalCost"] == float(bill["total"])
    assert told[-1]["updatedPersonalMessage"]["content"] == cost_message(bill)
    assert told[0] == {}  # Started: nothing priced yet


@pytest.mark.parametrize("seen", [0, 1, 2, 3])
async def test_whatever_the_billing_has_seen_the_total_is_the_bill(seen: int) -> None:
    envs = frames(SESSION)
    h = Harness(TARIFF, SHOWS)
    await h.feed(*envs[:seen])  # the billing lags `seen` events behind the start
    told = await answers(ConnectionCost(Source(h), STATION, "ocpp2.0.1"), envs)
    await h.feed(*envs[seen:])
    bill = h.final()
    assert {i["period"] for i in bill["items"] if i["component"] == "energy"} == {"base", "night"}
    assert told[-1]["totalCost"] == float(bill["total"])


async def test_billing_in_step_with_the_gateway_gives_the_same_running_and_final_cost() -> None:
    envs = frames(SESSION)
    h = Harness(TARIFF, SHOWS)
    cost = ConnectionCost(Source(h), STATION, "ocpp2.0.1")
    for env in envs:
        told = await cost.answer(orjson.loads(env.frame)[3], env.ts)
        await h.feed(env)
        state = h.store.bills[tx_key(STATION, TX)]
        if env is not envs[0]:
            assert told["updatedPersonalMessage"]["content"] == cost_message(state["bill"])
    assert told["totalCost"] == float(h.final()["total"])


async def test_a_retried_ended_after_the_bill_is_told_the_bill() -> None:
    envs = frames(SESSION)
    h = Harness(TARIFF, SHOWS)
    await h.feed(*envs)
    reconnected = ConnectionCost(Source(h), STATION, "ocpp2.0.1")  # knows none of the events
    told = await answers(reconnected, envs[-1:])
    assert told[0]["totalCost"] == float(h.final()["total"])


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        (Display(final=True), [set(), set(), set(), {"totalCost"}]),
        (Display(message=True), [set(), *[{"updatedPersonalMessage"}] * 3]),
        (Display(), [set()] * 4),
    ],
)
async def test_the_device_model_says_what_the_station_may_show(
    display: Display, expected: list[set[str]]
) -> None:
    source = Source(Harness(TARIFF, display), display)
    told = await answers(ConnectionCost(source, STATION, "ocpp2.0.1"), frames(SESSION))
    assert [set(t) for t in told] == expected
    assert source.display_lookups == 1  # once, at the Started event
    if not display.final and not display.message:
        assert source.checkpoint_lookups == 0  # nothing read for a station that shows nothing


async def test_no_tariff_means_no_cost() -> None:
    source = Source(Harness(None, SHOWS))
    assert await answers(ConnectionCost(source, STATION, "ocpp2.0.1"), frames(SESSION)) == [{}] * 4


async def test_an_absurd_station_clock_is_priced_as_the_bill_prices_it() -> None:
    # Year 9999 on the Ended event: both price at most 31 days, flagged, and agree.
    far = {**event("Ended", 3, T0, 9400.0), "timestamp": "9999-12-31T23:59:59Z"}
    envs = frames([*SESSION[:3], far])
    h = Harness(TARIFF, SHOWS)
    told = await answers(ConnectionCost(Source(h), STATION, "ocpp2.0.1"), envs)
    await h.feed(*envs)
    assert "implausible_duration" in h.final()["flags"]
    assert told[-1]["totalCost"] == float(h.final()["total"])


class Broken(Source):
    def __init__(self, checkpoint: Any) -> None:
        super().__init__(Harness(TARIFF, SHOWS))
        self._checkpoint = checkpoint

    async def checkpoint(self, station: str, transaction_id: str) -> Mapping[str, Any] | None:
        if isinstance(self._checkpoint, Exception):
            raise self._checkpoint
        return cast(Mapping[str, Any], self._checkpoint)


@pytest.mark.parametrize(
    "checkpoint",
    [
        {},
        {"tariff": {"id": "x", "currency": "euro"}, "state": {}, "tx": {}},
        {"tariff": TARIFF.to_dict(), "state": {"readings": 7}, "tx": {"key": "x"}},
        {"tariff": "not an object", "state": {}, "tx": {}},
        RedisConnectionError("connection refused"),
    ],
)
async def test_an_unusable_checkpoint_or_redis_failing_adds_nothing(checkpoint: Any) -> None:
    cost = ConnectionCost(Broken(checkpoint), STATION, "ocpp2.0.1")
    assert (await answers(cost, frames(SESSION)))[1:] == [{}] * 3


# -- the handler, both versions, against the real response schemas ----------------------------


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
async def test_handler_answers_with_total_message_and_token_info(version: OcppVersion) -> None:
    cost = ConnectionCost(Source(Harness(TARIFF, SHOWS)), STATION, version.value)
    answers_: list[dict[str, Any]] = []
    for env in frames(SESSION):
        payload = orjson.loads(env.frame)[3]
        validator(version, "TransactionEvent")(payload)  # a request a real station could send
        answer = await routes(version)["TransactionEvent"](
            CallContext(STATION, version, payload, env.ts, FixedDecisions(), cost)
        )
        validator(version, "TransactionEvent", response=True)(answer)
        answers_.append(answer)
    assert answers_[0] == {"idTokenInfo": {"status": "Accepted"}}
    assert set(answers_[-1]) == {"totalCost", "updatedPersonalMessage"}
    assert answers_[-1]["updatedPersonalMessage"]["content"].startswith("Total ")


async def test_handler_without_a_cost_side_answers_plainly() -> None:
    payload = orjson.loads(frames(SESSION)[-1].frame)[3]
    answer = await routes(OcppVersion.V201)["TransactionEvent"](
        CallContext(STATION, OcppVersion.V201, payload, T0, FixedDecisions())
    )
    assert answer == {}


# -- BillingLookups (the gateway's CostSource over Redis) ----------------------------------------


def _lookups(redis: Any) -> BillingLookups:
    return BillingLookups(cast(Redis, redis))


async def test_lookups_read_the_checkpoint_and_only_a_final_bill() -> None:
    memory = MemoryRedis()
    key = tx_key(STATION, TX)
    await memory.set(redis_keys.cost_checkpoint(key), orjson.dumps({"tariff": 1}))
    lookups = _lookups(memory)
    assert await lookups.checkpoint(STATION, TX) == {"tariff": 1}
    assert await lookups.checkpoint(STATION, "tx-other") is None
    await memory.set(redis_keys.bill(key), orjson.dumps({"bill": {"state": "running"}}))
    assert await lookups.final_bill(STATION, TX) is None
    await memory.set(redis_keys.bill(key), orjson.dumps({"bill": {"state": "final", "total": 1}}))
    assert await lookups.final_bill(STATION, TX) == {"state": "final", "total": 1}


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null"])
async def test_lookups_treat_a_malformed_value_as_none(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    memory = MemoryRedis()
    await memory.set(redis_keys.cost_checkpoint(tx_key(STATION, TX)), raw)
    assert await _lookups(memory).checkpoint(STATION, TX) is None
    assert "not a JSON object" in caplog.text
