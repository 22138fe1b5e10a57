"""The device model on the real stack (`csms up`): real `ocpp` charge points of both versions on
the gateway, operator commands through the API, the processors' device_model agent folding the
frames from Kafka into Redis, and GET /api/v1/stations/{id}/device-model over HTTP.

* 2.0.1: `get-base-report` -> GetBaseReport (Accepted), then the station's two-part NotifyReport;
  StatusNotification of EVSE 1 / connector 1.
* 1.6: `get-configuration` -> GetConfiguration (1.6 keys mapped to the standard 2.x
  component/variable); `set-configuration` -> ChangeConfiguration, whose value only the stored
  CALL carries; StatusNotification of connectors 1 and 2 (EVSE N / connector 1), one faulted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
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
CP16, CP201 = f"DM-16-{RUN}", f"DM-201-{RUN}"
# Liveness bound for a loaded 2-core machine (the processors consume from Kafka).
DEADLINE_S = 90.0


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _item(component: dict[str, Any], variable: str, value: str) -> dict[str, Any]:
    return {
        "component": component,
        "variable": {"name": variable},
        "variable_attribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
        "variable_characteristics": {"data_type": "integer", "supports_monitoring": True},
    }


class Reporting201(Charger201):
    """Answers GetBaseReport, then reports in two parts, as a real station does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reporting: set[asyncio.Task[None]] = set()

    @on(Action201.get_base_report)
    async def on_get_base_report(self, request_id: int, report_base: str) -> Any:
        # In a task: the `ocpp` package reads no frame while a handler runs, so a handler that
        # awaited its own NotifyReport's answer would wait forever.
        task = asyncio.create_task(self._report(request_id))
        self.reporting.add(task)
        task.add_done_callback(self.reporting.discard)
        return result201.GetBaseReport(status="Accepted")

    async def _report(self, request_id: int) -> None:
        await asyncio.sleep(0.2)  # after the answer is on the wire
        parts = [
            [_item({"name": "OCPPCommCtrlr"}, "HeartbeatInterval", "300")],
            [_item({"name": "EVSE", "evse": {"id": 1}}, "Power", "22000")],
        ]
        for seq_no, data in enumerate(parts):
            await self.call(
                call201.NotifyReport(
                    request_id=request_id,
                    generated_at=_now(),
                    seq_no=seq_no,
                    tbc=seq_no < len(parts) - 1,
                    report_data=data,
                )
            )


class Configurable16(Charger16):
    @on(Action16.change_configuration)
    async def on_change_configuration(self, key: str, value: str) -> Any:
        return result16.ChangeConfiguration(status="Accepted")


async def _device_model(
    api: httpx.AsyncClient, station: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Polls the device model until `ready` holds (the processors are asynchronous)."""
    deadline = time.monotonic() + DEADLINE_S
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = await api.get(f"/api/v1/stations/{station}/device-model")
        if resp.status_code == 200:
            body = resp.json()
            if ready(body):
                return body
        await asyncio.sleep(0.5)
    raise AssertionError(f"device model of {station} not ready: {body}")


def _variables(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{v['component']}.{v['variable']}": v for v in body["variables"]}


def _actual(var: dict[str, Any] | None) -> str | None:
    if var is None:
        return None
    return next((a["value"] for a in var["attributes"] if a["type"] == "Actual"), None)


def _connector_status(body: dict[str, Any], evse: int, connector: int) -> str | None:
    for e in body["evses"]:
        for c in e["connectors"]:
            if (e["evse_id"], c["connector_id"]) == (evse, connector) and c["status"]:
                return str(c["status"]["status"])
    return None


async def test_device_model_of_both_versions_over_http(stack: Stack) -> None:
    async with (
        charger(stack.ws_url(CP201), Reporting201, CP201, "ocpp2.0.1") as cp201,
        charger(stack.ws_url(CP16), Configurable16, CP16, "ocpp1.6") as cp16,
        httpx.AsyncClient(base_url=stack.api_url, headers=stack.api_headers, timeout=60) as api,
    ):
        await cp201.call(
            call201.BootNotification(
                charging_station={"model": "M-201", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        await cp201.call(
            call201.StatusNotification(
                timestamp=_now(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        await cp16.call(call16.BootNotification(charge_point_model="M-16", charge_point_vendor="V"))
        await cp16.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        await cp16.call(
            call16.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted")
        )

        base = f"/api/v1/stations/{CP201}/commands/get-base-report"
        report = await api.post(base, json={"report": "full-inventory", "request_id": 41})
        assert report.status_code == 200, report.text
        assert report.json()["result"]["status"] == "Accepted"

        config = await api.post(
            f"/api/v1/stations/{CP16}/commands/get-configuration",
            json={"keys": ["HeartbeatInterval", "MeterValueSampleInterval"]},
        )
        assert config.status_code == 200, config.text
        changed = await api.post(
            f"/api/v1/stations/{CP16}/commands/set-configuration",
            json={"values": [{"key": "MeterValueSampleInterval", "value": "15"}]},
        )
        assert changed.status_code == 200, changed.text

        def report_done(body: dict[str, Any]) -> bool:
            return any(r["request_id"] == 41 and r["complete"] for r in body["reports"])

        body201 = await _device_model(api, CP201, report_done)
        variables = _variables(body201)
        assert _actual(variables.get("OCPPCommCtrlr.HeartbeatInterval")) == "300"
        power = variables["EVSE.Power"]
        assert (power["evse_id"], _actual(power)) == (1, "22000")
        assert power["characteristics"] == {"dataType": "integer", "supportsMonitoring": True}
        assert _connector_status(body201, 1, 1) == "Occupied"
        assert (body201["protocol"], body201["online"], body201["model"]) == (
            "ocpp2.0.1",
            True,
            "M-201",
        )

        def configured(body: dict[str, Any]) -> bool:
            return _actual(_variables(body).get("SampledDataCtrlr.TxUpdatedInterval")) == "15"

        body16 = await _device_model(api, CP16, configured)
        variables16 = _variables(body16)
        heartbeat = variables16["OCPPCommCtrlr.HeartbeatInterval"]
        assert (heartbeat["v16_key"], _actual(heartbeat)) == ("HeartbeatInterval", "300")
        sampled = variables16["SampledDataCtrlr.TxUpdatedInterval"]
        assert [a["source"] for a in sampled["attributes"]] == ["ChangeConfiguration"]
        assert _connector_status(body16, 1, 1) == "Charging"
        assert _connector_status(body16, 2, 1) == "Faulted"
        faulted = next(e for e in body16["evses"] if e["evse_id"] == 2)["connectors"][0]
        assert [f["code"] for f in faulted["faults"]] == ["GroundFailure"]

        # The filters narrow the variables, case-insensitively.
        only = await api.get(
            f"/api/v1/stations/{CP16}/device-model", params={"variable": "heartbeatinterval"}
        )
        assert [v["component"] for v in only.json()["variables"]] == ["OCPPCommCtrlr"]
