"""Tariffs over real HTTP on the real stack (`csms up`): create, edit, assign, resolve.

The stack's Redis is shared by the session's stack tests: ids here are unique to the run, and
only station/group scopes of this test's own station are assigned (never the network default,
which would price other tests' sessions).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack


async def test_create_update_assign_resolve(stack: Stack) -> None:
    run = uuid.uuid4().hex[:8]
    tariff_id, station, group = f"T-{run}", f"CP-TARIFF-{run}", f"G-{run}"
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers=stack.api_headers, timeout=30
    ) as api:
        operator = await stack.mint_headers(f"tariff-op-{run}", "operator")
        body = {
            "id": tariff_id,
            "currency": "EUR",
            "energy_per_kwh": 0.3,
            "session_fee": "1.00",
            "tax_rate": "0.19",
            "timezone": "Europe/Berlin",
            "periods": [
                {"name": "night", "start": "22:00", "end": "06:00", "energy_per_kwh": "0.2"}
            ],
        }
        created = await api.post("/api/v1/tariffs", json=body, headers=operator)
        assert created.status_code == 201, created.text
        v1 = created.json()
        assert (v1["version"], v1["energy_per_kwh"], v1["periods"][0]["end"]) == (1, "0.3", "06:00")
        assert (await api.post("/api/v1/tariffs", json=body)).status_code == 409

        # The new version applies from a later moment; the first keeps pricing until then.
        switch_ms = int(time.time() * 1000) + 3_600_000
        edited = {**body, "energy_per_kwh": "0.35", "valid_from_ms": switch_ms}
        updated = await api.put(f"/api/v1/tariffs/{tariff_id}", json=edited, headers=operator)
        assert updated.status_code == 200, updated.text
        assert (updated.json()["version"], updated.json()["valid_from_ms"]) == (2, switch_ms)
        detail = (await api.get(f"/api/v1/tariffs/{tariff_id}")).json()
        assert [v["version"] for v in detail["versions"]] == [1, 2]

        assign = {"scope": "station", "station": station, "tariff_id": tariff_id}
        resp = await api.put("/api/v1/tariff-assignments", json=assign, headers=operator)
        assert resp.status_code == 200, resp.text
        assert resp.json()["key"] == f"station:{station}"
        listed = (await api.get("/api/v1/tariff-assignments")).json()["items"]
        assert f"station:{station}" in [item["key"] for item in listed]

        params: dict[str, str | int] = {"station": station, "evse": 1, "group": group}
        now = await api.get("/api/v1/tariffs/resolve", params=params)
        assert now.status_code == 200, now.text
        assert (now.json()["assignment"], now.json()["tariff"]["version"]) == (
            f"station:{station}",
            1,
        )
        later = await api.get("/api/v1/tariffs/resolve", params={**params, "at_ms": switch_ms})
        assert (later.json()["tariff"]["id"], later.json()["tariff"]["version"]) == (tariff_id, 2)
        other = await api.get("/api/v1/tariffs/resolve", params={"station": f"{station}-X"})
        # Another station: whatever the network default is, never this station's tariff.
        assert other.status_code == 404 or other.json()["tariff"]["id"] != tariff_id

        resp = await api.get(f"/api/v1/transactions/{station}/none/bill")
        assert (resp.status_code, resp.json()["error"]) == (404, "bill_not_found")
