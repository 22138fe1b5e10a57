"""Real `ocpp` package charge points (1.6 and 2.0.1) that answer operator commands, for the
stack tests of CSMS-initiated calls (gateway and API)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import websockets
from ocpp import routing
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from csms.clock import iso_time

F = TypeVar("F", bound=Callable[..., Any])


def on(action: Any) -> Callable[[F], F]:
    """`ocpp.routing.on`, typed (the package's decorator is untyped)."""
    return cast(Callable[[F], F], routing.on(action))


class Charger16(ChargePoint16):  # type: ignore[misc]
    @on(Action16.reset)
    async def on_reset(self, type: str, **_: Any) -> result16.Reset:
        return result16.Reset(status="Accepted")

    @on(Action16.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        known = [{"key": k, "readonly": False, "value": "300"} for k in key or []]
        return result16.GetConfiguration(configuration_key=known)

    @on(Action16.change_availability)
    async def on_change_availability(self, connector_id: int, type: str) -> Any:
        return result16.ChangeAvailability(status="Scheduled")

    @on(Action16.unlock_connector)
    async def on_unlock_connector(self, connector_id: int) -> Any:
        await asyncio.sleep(60)  # sits on it: the gateway drains meanwhile
        return result16.UnlockConnector(status="Unlocked")


class Charger201(ChargePoint201):  # type: ignore[misc]
    @on(Action201.reset)
    async def on_reset(self, type: str, **_: Any) -> result201.Reset:
        return result201.Reset(status="Accepted")

    @on(Action201.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = [
            {
                "attribute_status": "Accepted",
                "attribute_value": "300",
                "component": d["component"],
                "variable": d["variable"],
            }
            for d in get_variable_data
        ]
        return result201.GetVariables(get_variable_result=results)

    @on(Action201.change_availability)
    async def on_change_availability(self, operational_status: str, **_: Any) -> Any:
        return result201.ChangeAvailability(status="Accepted")

    @on(Action201.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        await asyncio.sleep(60)  # never answers in time: the gateway is killed meanwhile
        return result201.ClearCache(status="Accepted")


@contextlib.asynccontextmanager
async def charger(url: str, cls: type[Any], station: str, proto: str) -> AsyncIterator[Any]:
    async with websockets.connect(url, subprotocols=[proto]) as ws:  # type: ignore[list-item]
        cp = cls(station, ws)
        runner = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await runner


def energy_event201(
    kind: str,
    ts_ms: int,
    wh: float,
    seq_no: int,
    *,
    transaction_id: str = "tx-1",
    id_token: str | None = None,
) -> call201.TransactionEvent:
    """A 2.0.1 TransactionEvent of EVSE 1 charging, with one energy-register reading (Wh)."""
    extra: dict[str, Any] = {}
    if id_token is not None:
        extra["id_token"] = {"id_token": id_token, "type": "ISO14443"}
    return call201.TransactionEvent(
        event_type=kind,
        timestamp=iso_time(ts_ms),
        trigger_reason={"Started": "Authorized", "Ended": "StopAuthorized"}.get(
            kind, "MeterValuePeriodic"
        ),
        seq_no=seq_no,
        transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
        evse={"id": 1, "connector_id": 1},
        meter_value=[
            {
                "timestamp": iso_time(ts_ms),
                "sampled_value": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    }
                ],
            }
        ],
        **extra,
    )
