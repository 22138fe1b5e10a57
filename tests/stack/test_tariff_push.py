"""Tariffs reach OCPP 2.1 stations on the real stack (`csms up`), with a real `ocpp` 2.1
ChargePoint: an operator pushes a tariff (SetDefaultTariff) and the station receives exactly its
TariffType; a driver whose id-token group has a tariff of its own gets it in the Authorize answer.

The stack's Redis is shared by the session's stack tests: every id here is unique to the run,
and only this run's group is assigned (never the network default).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v21 import call_result as result21
from ocpp.v21.enums import Action as Action21

from csms.domain.tariff_ocpp21 import tariff_type
from csms.domain.tariffs import parse_tariff
from tests.stack.chargers import charger, on
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack


class Charger21(ChargePoint21):  # type: ignore[misc]
    """Accepts a default tariff, and keeps every frame it receives as sent (the `ocpp` package
    hands handlers snake_case keys: the raw text is what the CSMS really said)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[list[Any]] = []

    async def route_message(self, raw_msg: str | bytes) -> None:
        self.received.append(orjson.loads(raw_msg))
        await super().route_message(raw_msg)

    @on(Action21.set_default_tariff)
    async def on_set_default_tariff(self, evse_id: int, tariff: Any, **_: Any) -> Any:
        return result21.SetDefaultTariff(status="Accepted")

    def calls(self, action: str) -> list[dict[str, Any]]:
        return [f[3] for f in self.received if f[0] == 2 and f[2] == action]

    def result(self, uid: str) -> dict[str, Any]:
        return next(f[2] for f in self.received if f[0] == 3 and f[1] == uid)


async def test_push_and_authorize_carry_the_tariff(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    tariff_id, station = f"PUSH-{run}", f"CP-PUSH21-{run}"
    group, token = f"G-{run}", f"TOK-{run}"
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        operator = await stack.mint_headers(f"push-op-{run}", "operator")
        body = {
            "id": tariff_id,
            "currency": "EUR",
            "description": "Stack tariff",
            "energy_per_kwh": "0.30",
            "idle_per_hour": "1.20",
            "session_fee": "1.00",
            "tax_rate": "0.19",
            "periods": [
                {"name": "peak", "days": ["Monday"], "start": "17:00", "end": "20:00",
                 "energy_per_kwh": "0.45"},
            ],
        }  # fmt: skip
        created = await api.post("/api/v1/tariffs", json=body, headers=operator)
        assert created.status_code == 201, created.text
        expected = tariff_type(parse_tariff(created.json()))

        url = stack.ws_url(station)
        async with charger(url, Charger21, station, "ocpp2.1") as cp:
            boot = await cp.call(
                call21.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                )
            )
            assert boot.status == "Accepted"

            pushed = await api.post(
                f"/api/v1/tariffs/{tariff_id}/push",
                json={"station_id": station, "evse_id": 1},
                headers=operator,
            )
            assert pushed.status_code == 200, pushed.text
            answer = pushed.json()
            assert (answer["state"], answer["result"]) == ("completed", {"status": "Accepted"})
            assert cp.calls("SetDefaultTariff") == [{"evseId": 1, "tariff": expected}]

            listed = await api.post(
                "/api/v1/id-tokens",
                json={"id_token": token, "type": "ISO14443", "group_id": group},
                headers=operator,
            )
            assert listed.status_code == 201, listed.text
            assign = {"scope": "group", "group": group, "tariff_id": tariff_id}
            assigned = await api.put("/api/v1/tariff-assignments", json=assign, headers=operator)
            assert assigned.status_code == 200, assigned.text

            uid = f"auth-{run}"
            authorized = await asyncio.wait_for(
                cp.call(
                    call21.Authorize(id_token={"id_token": token, "type": "ISO14443"}),
                    unique_id=uid,
                ),
                15,
            )
            assert authorized.id_token_info["status"] == "Accepted"
            raw = cp.result(uid)
            assert raw["tariff"] == expected
            assert raw["tariff"]["tariffId"] == tariff_id
            assert raw["idTokenInfo"]["groupIdToken"] == {"idToken": group, "type": "Central"}

            # A token without a group gets no tariff.
            other = f"auth-other-{run}"
            await cp.call(
                call21.Authorize(id_token={"id_token": f"NOGROUP-{run}", "type": "ISO14443"}),
                unique_id=other,
            )
            assert "tariff" not in cp.result(other)
