"""GET /api/v1/stations/{id}/device-model over a real Redis (DB 10), written by the processors'
own steps and stores from real envelopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from csms.envelope import FrameEnvelope
from csms.infra import redis_keys as keys
from csms.projections.device_models import RedisDeviceModelStore, project_device_model
from csms.projections.status import project_status
from csms.projections.stores import RedisStationStore
from tests.unit.api.api_seed import mint, put_station, station_fields
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    boot201,
    iso,
    meter_values16,
    mv16,
    status16,
    status201,
    sv16,
)
from tests.unit.processors.test_device_models import report_part
from tests.unit.redis_db import flushed_redis

REDIS_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """DB 10 (not the API tests' DB 11): overrides the package's fixture for this module."""
    async with flushed_redis(REDIS_URL) as client:
        yield client


async def fold(redis: Redis, *envs: FrameEnvelope) -> None:
    stations, models = RedisStationStore(redis), RedisDeviceModelStore(redis)
    for env in envs:
        await project_status(env, stations)
        await project_device_model(env, models)


def url(station: str) -> str:
    return f"/api/v1/stations/{station}/device-model"


async def test_16_station_tree_configuration_and_metrics(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    s = Session("DM-API-16", conn="c-1")
    get = s.csms_call("GetConfiguration", {}, "cmd-1")
    keys16 = [
        {"key": "HeartbeatInterval", "value": "300", "readonly": False},
        {"key": "VendorThing", "value": "on", "readonly": True},
    ]
    await fold(
        redis,
        s.connect(),
        s.call("BootNotification", boot16()),
        s.call("StatusNotification", status16(0, "Available", ts=T0)),
        s.call("StatusNotification", status16(1, "Charging", ts=T0 + 1000)),
        s.call("StatusNotification", status16(2, "Faulted", "GroundFailure", ts=T0 + 2000)),
        get,
        s.answer(get, {"configurationKey": keys16}),
        s.call(
            "MeterValues",
            meter_values16(0, mv16(T0 + 3000, sv16("231.5", measurand="Voltage", unit="V"))),
        ),
    )
    heartbeat = s.call("Heartbeat", {})
    await fold(redis, heartbeat)  # the station hash moves on, the stored model is not rewritten
    assert await redis.get(keys.device_call("DM-API-16", "c-1", "cmd-1")) is None

    resp = await api.get(url("DM-API-16"))
    assert resp.status_code == 200
    body = resp.json()
    assert (body["id"], body["protocol"], body["online"]) == ("DM-API-16", "ocpp1.6", True)
    assert body["last_seen"] == iso(heartbeat.ts)
    assert (body["vendor"], body["model"], body["serial"]) == ("Alfen BV", "NG920", "ACE0001")
    assert body["status"]["status"] == "Available"
    assert body["faults"] == []
    evses = {e["evse_id"]: e for e in body["evses"]}
    assert sorted(evses) == [1, 2]
    assert evses[1]["connectors"][0]["status"]["status"] == "Charging"
    assert evses[2]["connectors"][0]["status"]["error_code"] == "GroundFailure"
    assert evses[2]["connectors"][0]["faults"] == [
        {
            "code": "GroundFailure",
            "info": None,
            "since": iso(T0 + 2000),
            "source": "StatusNotification",
        }
    ]
    variables = {(v["component"], v["variable"]): v for v in body["variables"]}
    hb = variables[("OCPPCommCtrlr", "HeartbeatInterval")]
    assert hb["v16_key"] == "HeartbeatInterval"
    assert [(a["type"], a["value"], a["source"]) for a in hb["attributes"]] == [
        ("Actual", "300", "GetConfiguration")
    ]
    assert variables[("OCPP16", "VendorThing")]["attributes"][0]["mutability"] == "ReadOnly"
    assert body["metrics"] == [
        {
            "evse_id": 0,
            "connector_id": 0,
            "measurand": "Voltage",
            "phase": None,
            "location": "Outlet",
            "value": 231.5,
            "unit": "V",
            "context": "Sample.Periodic",
            "timestamp": iso(T0 + 3000),
        }
    ]


async def test_201_report_event_monitor_and_filters(redis: Redis, api: httpx.AsyncClient) -> None:
    s = Session("DM-API-2", "ocpp2.0.1")
    monitoring = {
        "requestId": 9,
        "seqNo": 0,
        "generatedAt": iso(T0),
        "monitor": [
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Temperature"},
                "variableMonitoring": [
                    {
                        "id": 4,
                        "transaction": False,
                        "value": 80,
                        "type": "UpperThreshold",
                        "severity": 2,
                    }
                ],
            }
        ],
    }
    alert = {
        "generatedAt": iso(T0 + 5000),
        "seqNo": 0,
        "eventData": [
            {
                "eventId": 1,
                "timestamp": iso(T0 + 5000),
                "trigger": "Alerting",
                "actualValue": "85",
                "eventNotificationType": "CustomMonitor",
                "variableMonitoringId": 4,
                "techCode": "OVERHEAT",
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Temperature"},
            }
        ],
    }
    await fold(
        redis,
        s.connect(),
        s.call("BootNotification", boot201()),
        s.call("StatusNotification", status201(1, 1, "Occupied", T0)),
        s.call(
            "NotifyReport", report_part(3, 0, True, ("OCPPCommCtrlr", "HeartbeatInterval", "60"))
        ),
        s.call("NotifyReport", report_part(3, 1, False, ("TxCtrlr", "EVConnectionTimeOut", "30"))),
        s.call("NotifyMonitoringReport", monitoring),
        s.call("NotifyEvent", alert),
    )
    body = (await api.get(url("DM-API-2"))).json()
    assert body["protocol"] == "ocpp2.0.1"
    evse = body["evses"][0]
    assert (evse["evse_id"], evse["connectors"][0]["status"]["status"]) == (1, "Occupied")
    assert [f["code"] for f in evse["faults"]] == ["OVERHEAT"]
    reports = {(r["action"], r["request_id"]): r for r in body["reports"]}
    assert reports[("NotifyReport", 3)]["complete"] is True
    assert reports[("NotifyReport", 3)]["seq_nos"] == [0, 1]
    assert reports[("NotifyMonitoringReport", 9)]["complete"] is True

    temp = (await api.get(url("DM-API-2"), params={"variable": "TEMPERATURE"})).json()
    [var] = temp["variables"]
    assert (var["component"], var["evse_id"], var["connector_id"]) == ("EVSE", 1, None)
    assert var["monitors"] == [
        {"id": 4, "type": "UpperThreshold", "value": 80.0, "severity": 2, "transaction": False}
    ]
    assert var["last_event"]["tech_code"] == "OVERHEAT"
    assert var["attributes"][0]["value"] == "85"
    hb = (await api.get(url("DM-API-2"), params={"component": "ocppcommctrlr"})).json()
    assert [(v["variable"], v["characteristics"]["dataType"]) for v in hb["variables"]] == [
        ("HeartbeatInterval", "integer")
    ]
    assert hb["evses"] == body["evses"]  # filters only narrow the variables
    none = await api.get(
        url("DM-API-2"), params={"component": "OCPPCommCtrlr", "variable": "EVConnectionTimeOut"}
    )
    assert none.json()["variables"] == []


async def test_unknown_station_is_404(api: httpx.AsyncClient) -> None:
    resp = await api.get(url("NOPE"))
    assert resp.status_code == 404
    assert resp.json()["error"] == "station_not_found"
    registered = await api.post("/api/v1/stations", json={"id": "DM-REG"})
    assert registered.status_code == 201
    body = (await api.get(url("DM-REG"))).json()  # registered, never connected: empty
    assert (body["online"], body["evses"], body["variables"]) == (False, [], [])


async def test_seen_station_without_a_model_or_with_a_bad_one(
    redis: Redis, api: httpx.AsyncClient
) -> None:
    await put_station(redis, "DM-BARE", station_fields("ocpp1.6", online=False, last_seen=T0))
    body = (await api.get(url("DM-BARE"))).json()
    assert (body["online"], body["last_seen"], body["evses"], body["variables"]) == (
        False,
        iso(T0),
        [],
        [],
    )
    await redis.set(keys.device_model("DM-BARE"), '{"evses": {"x": 1}}')
    resp = await api.get(url("DM-BARE"))
    assert resp.status_code == 200
    assert resp.json()["evses"] == []


async def test_roles_and_openapi(
    redis: Redis, api: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    s = Session("DM-API-R")
    await fold(redis, s.connect())
    assert (await anon.get(url("DM-API-R"))).status_code == 401
    analyst = await mint(redis, "analyst")
    assert (await api.get(url("DM-API-R"), headers=analyst)).status_code == 200
    schema: dict[str, Any] = (await api.get("/openapi.json")).json()
    op = schema["paths"]["/api/v1/stations/{station_id}/device-model"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"station_id", "component", "variable"}
    assert "DeviceModelView" in schema["components"]["schemas"]
    assert "VariableView" in schema["components"]["schemas"]
