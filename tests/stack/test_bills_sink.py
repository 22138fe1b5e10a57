"""Bills for real: two revisions of one final bill (and a late duplicate of the first) on the
local Kafka's `csms.bills` (unique topic prefix), the analytics sink in-process against
embedded chDB in a tmp dir, and plain SQL on `bills FINAL` showing one row, the latest
revision, with exact decimal totals."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from csms.infra.kafka import ensure_topics, make_producer
from csms.settings import Settings
from services.analytics.main import AnalyticsService
from tests.stack.sink_helpers import delete_topics, eventually, in_process, sink_settings
from tests.unit.analytics.bills import final_bill

pytestmark = pytest.mark.stack

RUN = uuid.uuid4().hex[:8]
STATION = f"CP-bills-{RUN}"


def _inserted() -> float:
    labels = {"table": "bills"}
    return REGISTRY.get_sample_value("csms_analytics_rows_inserted_total", labels) or 0.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sink_settings(tmp_path, f"bills-{RUN}")


@pytest.fixture
async def published(settings: Settings) -> AsyncIterator[list[dict[str, Any]]]:
    """Revision 1, revision 2 (more energy), then revision 1 again (a late redelivery): the
    highest revision must win, not the last insert. A running bill and garbage are skipped."""
    await ensure_topics(settings)
    first = final_bill(STATION, "42", 1, stop_wh=11_000.5)
    second = final_bill(STATION, "42", 2, stop_wh=12_000.0)
    running = final_bill(STATION, "43", 1, state="running")
    values = [orjson.dumps(v) for v in (first, second, running)]
    values += [b"not a bill", orjson.dumps(first)]
    producer = make_producer(settings, client_id=f"test-bills-{RUN}")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.topics.bills, value, key=STATION.encode())
    finally:
        await producer.stop()
    yield [first, second]
    await delete_topics(settings)


async def test_the_latest_revision_of_a_bill_is_the_one_row(
    settings: Settings, published: list[dict[str, Any]]
) -> None:
    first, second = published
    before = _inserted()
    service = AnalyticsService(settings)
    await service.start()
    try:
        assert settings.topics.bills in service.settings.topics.all()

        async def three_final_rows_inserted() -> bool:
            return _inserted() - before >= 3

        await eventually(three_final_rows_inserted, "both revisions and the duplicate inserted")
        query = in_process(service)
        rows = await query(
            "SELECT station, transaction_id, revision, currency, subtotal, tax, total, "
            "toString(total), energy_wh, items.component, items.amount "
            "FROM bills FINAL"
        )
        sums = await query("SELECT count(), sum(total) FROM bills FINAL")
    finally:
        await service.stop()

    assert second["total"] == "7.26" != first["total"]
    assert rows == [
        (STATION, "42", 2, "EUR", Decimal("6.10"), Decimal("1.16"), Decimal("7.26"), "7.26",
         Decimal("11000.000"), ["charging_time", "energy", "session_fee"],
         [Decimal("1.20"), Decimal("4.40"), Decimal("0.50")]),
    ]  # fmt: skip
    assert sums == [(1, Decimal("7.26"))]
