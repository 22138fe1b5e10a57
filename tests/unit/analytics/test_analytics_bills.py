"""csms.bills -> ClickHouse `bills` rows (pure mapping), and the rows against the real table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from csms.infra.clickhouse import ClickHouse
from services.analytics.rows import BILLS, route_bill
from tests.unit.analytics.bills import HOUR_MS, final_bill
from tests.unit.domain.builders import T0


def _raw(value: Any) -> bytes:
    return orjson.dumps(value)


def _row(d: dict[str, Any]) -> dict[str, Any]:
    routed = route_bill(_raw(d))
    assert routed.problem == "", routed.detail
    [row] = routed.rows[BILLS.name]
    return dict(zip(BILLS.columns, row, strict=True))


def test_a_final_bill_maps_to_one_row_with_exact_decimals() -> None:
    row = _row(final_bill("CP-1", "42", 2))
    assert row == {
        "station": "CP-1", "transaction_id": "42", "revision": 2, "proto": "ocpp1.6",
        "evse": 1, "connector": 1, "id_token": "TAG-1", "tariff_id": "std",
        "tariff_version": 3, "currency": "EUR", "started": T0, "ended": T0 + HOUR_MS,
        "priced_until": T0 + HOUR_MS, "computed": T0 + HOUR_MS + 2000,
        "energy_wh": Decimal("10000.500"), "charging_s": 3600, "idle_s": 0,
        "items.component": ["charging_time", "energy", "session_fee"],
        "items.period": ["base", "base", ""],
        "items.quantity": [Decimal("1.0000"), Decimal("10.0005"), Decimal("1.0000")],
        "items.unit": ["h", "kWh", "session"],
        "items.unit_price": [Decimal("1.200000"), Decimal("0.400000"), Decimal("0.500000")],
        "items.amount": [Decimal("1.2000"), Decimal("4.0000"), Decimal("0.5000")],
        "subtotal": Decimal("5.7000"), "tax_rate": Decimal("0.190000"),
        "tax": Decimal("1.0800"), "total": Decimal("6.7800"), "flags": [],
        "stop_reason": "Local", "closed_by": "station",
    }  # fmt: skip
    # Every money cell is a Decimal: nothing went through a float.
    assert all(type(v) is Decimal for v in row["items.amount"])


def test_running_bills_and_other_types_are_skipped_quietly() -> None:
    running = final_bill("CP-1", "42", 1, state="running")
    assert running["state"] == "running"
    for value in (running, {**final_bill("CP-1", "42", 1), "type": "cost"}, {"type": "x"}):
        routed = route_bill(_raw(value))
        assert (routed.rows, routed.problem) == ({}, "")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty value"),
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
    ],
)
def test_undecodable_values_are_problems_not_exceptions(value: bytes | None, reason: str) -> None:
    routed = route_bill(value)
    assert routed.problem == "bad_bills"
    assert reason in routed.detail
    assert routed.rows == {}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"total": 6.78}, "not a decimal string"),  # a float: money must not be binary
        ({"total": "NaN"}, "not a finite decimal"),
        ({"total": "abc"}, "not a decimal"),
        ({"subtotal": "1e20"}, "out of range"),
        ({"revision": 0}, "revision must be >= 1"),
        ({"revision": "2"}, "not an unsigned integer"),
        ({"started_ms": -1}, "timestamp out of range"),
        ({"items": [{"component": "energy"}]}, "items: missing field"),
        ({"items": "energy"}, "items: not a list"),
        ({"flags": ["ok", 3]}, "not a string"),
        ({"station": None}, "not a string"),
    ],
)
def test_bad_fields_are_reported_with_the_reason(change: dict[str, Any], reason: str) -> None:
    routed = route_bill(_raw({**final_bill("CP-1", "42", 1), **change}))
    assert routed.problem == "bad_bills"
    assert reason in routed.detail
    assert routed.rows == {}


def test_a_missing_field_is_named() -> None:
    bill = final_bill("CP-1", "42", 1)
    del bill["transaction_id"]
    routed = route_bill(_raw(bill))
    assert (routed.problem, routed.detail) == ("bad_bills", "missing field 'transaction_id'")


def test_decimals_are_rounded_half_up_to_the_column_scale() -> None:
    bill = final_bill("CP-1", "42", 1)
    bill["items"][0]["unit_price"] = "0.12345650"  # more digits than Decimal(18, 6) keeps
    row = _row(bill)
    assert row["items.unit_price"][0] == Decimal("0.123457")
    # Zero-decimal currencies and integers are fine.
    assert _row({**bill, "currency": "JPY", "total": 1234})["total"] == Decimal("1234.0000")


async def test_rows_insert_and_the_latest_revision_wins(clickhouse: ClickHouse) -> None:
    """Against the real `bills` table: revisions collapse to the latest, duplicates to one, and
    the decimals come back exactly."""
    client = clickhouse.client
    rows = [
        route_bill(_raw(final_bill("CP-1", "42", revision, stop_wh=wh))).rows[BILLS.name][0]
        for revision, wh in ((1, 11_000.5), (2, 12_000.0), (2, 12_000.0))
    ]
    rows.append(route_bill(_raw(final_bill("CP-2", "7", 1))).rows[BILLS.name][0])
    columns = [list(c) for c in zip(*rows, strict=True)]
    await clickhouse.run(
        lambda: client.insert(BILLS.name, columns, column_names=list(BILLS.columns),
                              column_oriented=True)
    )  # fmt: skip
    result = client.query(
        "SELECT station, transaction_id, revision, toString(total), toString(energy_wh), "
        "items.component, items.amount FROM bills FINAL ORDER BY station"
    ).result_rows
    assert result == [
        ("CP-1", "42", 2, "7.26", "11000", ["charging_time", "energy", "session_fee"],
         [Decimal("1.2"), Decimal("4.4"), Decimal("0.5")]),
        ("CP-2", "7", 1, "6.78", "10000.5", ["charging_time", "energy", "session_fee"],
         [Decimal("1.2"), Decimal("4"), Decimal("0.5")]),
    ]  # fmt: skip
