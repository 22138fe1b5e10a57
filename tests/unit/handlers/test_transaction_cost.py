"""The session's cost in the 2.0.1 / 2.1 TransactionEventResponse: the gateway extends the
billing checkpoint with the event it answers and tells the station what the bill says."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import orjson
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from csms.domain.billing import Session, cost_message, finish, price
from csms.domain.tariffs import Tariff, parse_tariff
from csms.domain.transactions import tx_key
from csms.handlers import CallContext, routes
from csms.handlers.v201.transaction_cost import cost_fields, event_energy_wh
from csms.infra import redis_keys
from csms.infra.memory_redis import MemoryRedis
from csms.infra.redis_decisions import RedisDecisions
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion
from tests.unit.gateway.fakes import FixedDecisions

STATION, TX = "CP-COST", "tx-1"
NOW = 1_764_100_000_000
# Across 22:00 UTC, where the night period begins: the energy is split between two prices.
T0 = 1_764_021_600_000 - 30 * 60_000  # 2025-11-24T21:30:00Z, Started (1 000 Wh)
T1 = T0 + 20 * 60_000  # 21:50, Updated 5 000 Wh, Charging (the checkpoint's last event)
T2 = T1 + 25 * 60_000  # 22:15, Updated 9 000 Wh, SuspendedEV
T3 = T2 + 10 * 60_000  # 22:25, Ended 9 400 Wh, EVConnected
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
READINGS = [(T0, 1000.0), (T1, 5000.0), (T2, 9000.0), (T3, 9400.0)]
STATES = [(T0, "Charging"), (T2, "SuspendedEV"), (T3, "EVConnected")]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _checkpoint(
    until: int, *, final: bool = True, message: bool = True, tariff: Tariff = TARIFF
) -> dict[str, Any]:
    """What the billing projection stores once it has priced the events up to `until`."""
    session = Session(
        T0,
        readings=[r for r in READINGS if r[0] <= until],
        states=[s for s in STATES if s[0] <= until],
    )
    acc = price(tariff, session, until_ms=until)
    return {
        "tariff": tariff.to_dict(),
        "acc": acc.to_dict(),
        "show": {"final": final, "message": message},
    }


def _event(event_type: str, ts: int, wh: float | None, state: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": TX}
    if state:
        info["chargingState"] = state
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": _iso(ts),
        "triggerReason": "StopAuthorized" if event_type == "Ended" else "MeterValuePeriodic",
        "seqNo": 3,
        "transactionInfo": info,
    }
    if wh is not None:
        payload["meterValue"] = [
            {
                "timestamp": _iso(ts),
                "sampledValue": [
                    # A phase reading and a power reading the cost must not take as the register.
                    {"value": 3.1, "measurand": "Energy.Active.Import.Register", "phase": "L1"},
                    {"value": wh / 1000, "unitOfMeasure": {"unit": "kWh"}},
                    {"value": 7400.0, "measurand": "Power.Active.Import"},
                ],
            }
        ]
    return payload


def _expected_total(until: int, *, ended: bool) -> Decimal:
    session = Session(
        T0,
        ended_ms=until if ended else 0,
        readings=[r for r in READINGS if r[0] <= until],
        states=[s for s in STATES if s[0] <= until],
    )
    return Decimal(finish(TARIFF, price(TARIFF, session, until_ms=until), final=ended)["total"])


# -- the pure function ------------------------------------------------------------------------


def test_ended_tells_the_total_of_the_whole_session_and_the_final_message() -> None:
    fields = cost_fields(_checkpoint(T2), _event("Ended", T3, 9400.0, "EVConnected"), NOW)
    expected = _expected_total(T3, ended=True)
    assert expected > Decimal("3")  # energy (two prices), time, idle, fee and tax all count
    assert fields["totalCost"] == float(expected)
    session = Session(T0, T3, READINGS, STATES)
    bill = finish(TARIFF, price(TARIFF, session), final=True)
    assert fields["updatedPersonalMessage"] == {"format": "UTF8", "content": cost_message(bill)}
    assert fields["updatedPersonalMessage"]["content"].startswith(f"Total {expected} EUR")


def test_ended_from_an_older_checkpoint_prices_the_gap_the_same_way() -> None:
    # The billing has only seen up to T1; the Ended event's reading covers T1..T3 at once.
    readings = [(T0, 1000.0), (T1, 5000.0), (T3, 9400.0)]
    states = [(T0, "Charging"), (T3, "EVConnected")]
    expected = finish(TARIFF, price(TARIFF, Session(T0, T3, readings, states)), final=True)
    fields = cost_fields(_checkpoint(T1), _event("Ended", T3, 9400.0, "EVConnected"), NOW)
    assert fields["totalCost"] == float(Decimal(expected["total"]))


def test_updated_tells_only_the_running_cost() -> None:
    fields = cost_fields(_checkpoint(T1), _event("Updated", T2, 9000.0, "SuspendedEV"), NOW)
    session = Session(T0, readings=READINGS[:3], states=STATES[:2])
    bill = finish(TARIFF, price(TARIFF, session, until_ms=T2), final=False)
    assert fields == {"updatedPersonalMessage": {"format": "UTF8", "content": cost_message(bill)}}
    assert fields["updatedPersonalMessage"]["content"].endswith("so far (incl. tax)")


def test_an_event_without_reading_or_state_still_counts_the_time() -> None:
    fields = cost_fields(_checkpoint(T1), _event("Updated", T1 + 3_600_000, None, None), NOW)
    session = Session(T0, readings=READINGS[:2], states=STATES[:1])
    later = finish(TARIFF, price(TARIFF, session, until_ms=T1 + 3_600_000), final=False)
    assert fields["updatedPersonalMessage"]["content"] == cost_message(later)


@pytest.mark.parametrize(
    ("final", "message", "event_type", "expected"),
    [
        (True, False, "Ended", {"totalCost"}),
        (False, True, "Ended", {"updatedPersonalMessage"}),
        (False, False, "Ended", set()),
        (True, False, "Updated", set()),  # 2.0.1: totalCost only once charging has ended
        (True, True, "Started", set()),  # nothing priced yet
    ],
)
def test_the_checkpoint_says_what_the_station_may_show(
    final: bool, message: bool, event_type: str, expected: set[str]
) -> None:
    checkpoint = _checkpoint(T2, final=final, message=message)
    fields = cost_fields(checkpoint, _event(event_type, T3, 9400.0, "EVConnected"), NOW)
    assert set(fields) == expected


def test_a_free_session_says_zero() -> None:
    free = _checkpoint(T2, tariff=parse_tariff({"id": "free", "currency": "EUR"}))
    fields = cost_fields(free, _event("Ended", T3, 9400.0, "EVConnected"), NOW)
    assert fields["totalCost"] == 0.0


def _broken(**changes: Any) -> dict[str, Any]:
    return {**_checkpoint(T2), **changes}


@pytest.mark.parametrize(
    "checkpoint",
    [
        {},
        {"show": {"final": True, "message": True}},  # no tariff, no accrual
        _broken(tariff={"id": "x", "currency": "euro"}),  # TariffError
        _broken(tariff="not an object"),
        _broken(acc={"at_ms": T2}),  # no started_ms
        _broken(acc={"started_ms": "soon", "at_ms": T2}),
        _broken(acc={**_checkpoint(T2)["acc"], "lines": [["energy", "base", "x", "1", "y"]]}),
        _broken(acc={**_checkpoint(T2)["acc"], "lines": 7}),
        _broken(show="yes"),
        _broken(show={"final": "true", "message": 1}),  # only JSON true counts
    ],
)
def test_a_malformed_checkpoint_adds_nothing(checkpoint: dict[str, Any]) -> None:
    assert cost_fields(checkpoint, _event("Ended", T3, 9400.0, "EVConnected"), NOW) == {}


def test_an_absurd_event_time_is_not_priced() -> None:
    # A station clock in year 9999 must not make the gateway walk 8 000 years of tariff periods.
    far = _event("Ended", T3, 9400.0, None)
    far["timestamp"] = "9999-12-31T23:59:59Z"
    assert cost_fields(_checkpoint(T2), far, NOW) == {}


def test_an_event_older_than_the_checkpoint_adds_nothing() -> None:
    late = cost_fields(_checkpoint(T2), _event("Ended", T1, 4000.0, "Charging"), NOW)
    assert late["totalCost"] == float(_expected_total(T2, ended=True))


def test_event_energy_is_the_latest_register_reading_in_wh() -> None:
    payload = _event("Updated", T2, 9000.0, None)
    later = {"value": 9.2, "unitOfMeasure": {"unit": "kWh"}}
    payload["meterValue"].insert(0, {"timestamp": _iso(T2 + 1), "sampledValue": [later]})
    assert event_energy_wh(payload, NOW) == 9200.0
    assert event_energy_wh(_event("Updated", T2, None, None), NOW) is None
    assert event_energy_wh({"meterValue": "garbage"}, NOW) is None


# -- the handler, both versions, against the real response schemas ----------------------------


async def _answer(
    version: OcppVersion, payload: dict[str, Any], checkpoint: Mapping[str, Any] | None
) -> dict[str, Any]:
    validator(version, "TransactionEvent")(payload)  # a request a real station could send
    checkpoints = {} if checkpoint is None else {(STATION, TX): checkpoint}
    decisions = FixedDecisions(checkpoints=checkpoints)
    answer = await routes(version)["TransactionEvent"](
        CallContext(STATION, version, payload, NOW, decisions)
    )
    validator(version, "TransactionEvent", response=True)(answer)
    return answer


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
async def test_handler_answers_ended_with_total_and_token_info(version: OcppVersion) -> None:
    payload = {
        **_event("Ended", T3, 9400.0, "EVConnected"),
        "idToken": {"idToken": "DRIVER", "type": "ISO14443"},
    }
    answer = await _answer(version, payload, _checkpoint(T2))
    assert answer["idTokenInfo"] == {"status": "Accepted"}
    assert answer["totalCost"] == float(_expected_total(T3, ended=True))
    assert answer["updatedPersonalMessage"]["content"].startswith("Total ")


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
async def test_handler_answers_updated_with_the_message_only(version: OcppVersion) -> None:
    answer = await _answer(version, _event("Updated", T2, 9000.0, "SuspendedEV"), _checkpoint(T1))
    assert set(answer) == {"updatedPersonalMessage"}


@pytest.mark.parametrize("version", [OcppVersion.V201, OcppVersion.V21])
@pytest.mark.parametrize("checkpoint", [None, {"tariff": 1, "acc": 2, "show": {"final": True}}])
async def test_handler_without_a_usable_checkpoint_answers_as_before(
    version: OcppVersion, checkpoint: Mapping[str, Any] | None
) -> None:
    assert await _answer(version, _event("Ended", T3, 9400.0, None), checkpoint) == {}


async def test_handler_does_not_look_up_the_cost_of_a_started_event() -> None:
    class Counting(FixedDecisions):
        lookups = 0

        async def cost_checkpoint(
            self, station: str, transaction_id: str
        ) -> Mapping[str, Any] | None:
            Counting.lookups += 1
            return _checkpoint(T2)

    payload = {**_event("Started", T0, 1000.0, "Charging"), "seqNo": 0}
    for event in (payload, _event("Updated", T2, 9000.0, None)):
        await routes(OcppVersion.V201)["TransactionEvent"](
            CallContext(STATION, OcppVersion.V201, event, NOW, Counting())
        )
    assert Counting.lookups == 1


# -- RedisDecisions.cost_checkpoint --------------------------------------------------------------


def _decisions(redis: Any) -> RedisDecisions:
    return RedisDecisions(cast(Redis, redis), heartbeat_interval_s=300)


async def test_redis_decisions_reads_the_checkpoint() -> None:
    memory = MemoryRedis()
    checkpoint = _checkpoint(T2)
    await memory.set(redis_keys.cost_checkpoint(tx_key(STATION, TX)), orjson.dumps(checkpoint))
    decisions = _decisions(memory)
    assert await decisions.cost_checkpoint(STATION, TX) == checkpoint
    assert await decisions.cost_checkpoint(STATION, "tx-other") is None


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null"])
async def test_redis_decisions_treats_a_malformed_checkpoint_as_none(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    memory = MemoryRedis()
    await memory.set(redis_keys.cost_checkpoint(tx_key(STATION, TX)), raw)
    assert await _decisions(memory).cost_checkpoint(STATION, TX) is None
    assert "cost checkpoint" in caplog.text


async def test_redis_decisions_answers_none_when_redis_fails() -> None:
    class Failing:
        async def get(self, key: str) -> str | None:
            raise RedisConnectionError("connection refused")

    assert await _decisions(Failing()).cost_checkpoint(STATION, TX) is None
