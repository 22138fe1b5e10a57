"""Remote starts correlated to their command on the real stack (`csms up`): the operator API
sends remote-start to a real `ocpp` 1.6 and a 2.0.1 ChargePoint, each starts the transaction it
was asked for, and the transaction the API serves names the CSMS CALL it answers."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

from tests.stack.chargers import Charger16, Charger201, charger, on
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:6]
DEADLINE_S = 60.0


def _now() -> str:
    return datetime.now(UTC).isoformat()


class RemoteCharger16(Charger16):
    """Accepts a RemoteStartTransaction, then starts it as a 1.6 station does."""

    started: asyncio.Queue[int]

    @on(Action16.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, connector_id: int = 1, **_: Any) -> Any:
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self._start(id_tag, connector_id))
        )
        return result16.RemoteStartTransaction(status="Accepted")

    async def _start(self, id_tag: str, connector_id: int) -> None:
        answer = await self.call(
            call16.StartTransaction(
                connector_id=connector_id, id_tag=id_tag, meter_start=1_000, timestamp=_now()
            )
        )
        await self.started.put(answer.transaction_id)


class RemoteCharger201(Charger201):
    """Accepts a RequestStartTransaction, then starts it echoing its remoteStartId."""

    started: asyncio.Queue[str]

    @on(Action201.request_start_transaction)
    async def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, **_: Any
    ) -> Any:
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self._start(id_token, remote_start_id))
        )
        return result201.RequestStartTransaction(status="Accepted")

    async def _start(self, id_token: dict[str, Any], remote_start_id: int) -> None:
        tx_id = f"tx-{uuid.uuid4().hex[:8]}"
        await self.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=_now(),
                trigger_reason="RemoteStart",
                seq_no=0,
                transaction_info={"transaction_id": tx_id, "remote_start_id": remote_start_id},
                id_token=id_token,
                evse={"id": 1, "connector_id": 1},
            )
        )
        await self.started.put(tx_id)


async def _transaction(api: httpx.AsyncClient, station: str, tx_id: str) -> dict[str, Any]:
    """The API's view of the transaction once the processors have matched its remote start."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        resp = await api.get(f"/api/v1/transactions/{station}/{tx_id}")
        if resp.status_code == 200 and resp.json()["remote_start_uid"]:
            body: dict[str, Any] = resp.json()
            return body
        await asyncio.sleep(0.25)
    pytest.fail(f"transaction {station}/{tx_id} never showed its remote start")


async def test_remote_started_transactions_name_their_command_on_both_versions(
    stack: Stack,
) -> None:
    cp16_id, cp201_id = f"RS-16-{RUN}", f"RS-201-{RUN}"
    async with (
        charger(stack.ws_url(cp16_id), RemoteCharger16, cp16_id, "ocpp1.6") as cp16,
        charger(stack.ws_url(cp201_id), RemoteCharger201, cp201_id, "ocpp2.0.1") as cp201,
        httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers, timeout=60) as api,
    ):
        cp16.started, cp201.started = asyncio.Queue(), asyncio.Queue()
        await cp16.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await cp201.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        commands = {}
        for station in (cp16_id, cp201_id):
            resp = await api.post(
                f"/api/v1/stations/{station}/commands/remote-start",
                json={"id_token": {"id": f"APP-{RUN}", "type": "Central"}, "evse_id": 1},
            )
            assert resp.status_code == 200, resp.text
            assert resp.json()["result"]["status"] == "Accepted"
            commands[station] = resp.json()
        tx16 = await asyncio.wait_for(cp16.started.get(), DEADLINE_S)
        tx201 = await asyncio.wait_for(cp201.started.get(), DEADLINE_S)

        view16 = await _transaction(api, cp16_id, str(tx16))
        view201 = await _transaction(api, cp201_id, tx201)

    (call16_record,) = commands[cp16_id]["calls"]
    assert call16_record["action"] == "RemoteStartTransaction"
    assert view16["remote_start_uid"] == call16_record["id"]
    assert (view16["trigger_reason"], view16["id_token"], view16["evse"]) == (
        "RemoteStart",
        f"APP-{RUN}",
        1,
    )
    (call201_record,) = commands[cp201_id]["calls"]
    assert call201_record["action"] == "RequestStartTransaction"
    assert view201["remote_start_uid"] == call201_record["id"]
    assert view201["remote_start_id"] is not None
    assert "remote_start" in view16["flags"] and "remote_start" in view201["flags"]
