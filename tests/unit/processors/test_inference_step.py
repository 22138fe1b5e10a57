"""The inference16 step: the pure fold of csms.domain.inference16 at the processors' edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.domain.inference16 import RulesRegistry, event_record, infer_all
from csms.envelope import FrameEnvelope
from csms.projections.inference import load_rules, project_inference
from tests.unit.domain.builders import (
    T0,
    Session,
    boot16,
    start16,
    start16_result,
    status16,
    stop16,
    transaction_event,
)
from tests.unit.processors.fakes import MemoryInferenceStore

MIN = 60_000
EXAMPLE = (
    Path(__file__).resolve().parents[3] / "deploy" / "config" / "inference16-rules.example.json"
)


def session(s: Session, vendor: str = "Alfen BV", model: str = "NG920") -> list[FrameEnvelope]:
    start = s.call("StartTransaction", start16(1, "TAG", 1_000, T0 + MIN))
    return [
        s.connect(),
        s.call("BootNotification", boot16(vendor=vendor, model=model)),
        s.call("StatusNotification", status16(1, "Available", ts=T0)),
        s.call("StatusNotification", status16(2, "Available", ts=T0)),
        s.call("StatusNotification", status16(1, "Preparing", ts=T0 + MIN // 2)),
        start,
        s.result(start, start16_result(5)),
        s.call("StatusNotification", status16(1, "Charging", ts=T0 + 2 * MIN)),
        s.call("StopTransaction", stop16(5, 2_000, T0 + 30 * MIN)),
        s.call("StatusNotification", status16(1, "Finishing", ts=T0 + 30 * MIN)),
        s.call("StatusNotification", status16(1, "Available", ts=T0 + 31 * MIN)),
    ]


async def run(
    store: MemoryInferenceStore, frames: list[FrameEnvelope], registry: RulesRegistry
) -> list[dict[str, object]]:
    return [e for env in frames for e in await project_inference(env, store, registry)]


async def test_the_step_publishes_what_the_library_infers_for_the_whole_sequence() -> None:
    registry = load_rules(str(EXAMPLE))
    frames = session(Session("CP-1"))
    published = await run(MemoryInferenceStore(), frames, registry)
    assert published == [event_record(e) for e in infer_all(frames, registry)]
    assert [e["trigger_reason"] for e in published] == [
        "CablePluggedIn",
        "Authorized",
        "ChargingStateChanged",
        "StopAuthorized",
        "EVDeparted",  # the Alfen NG9* rule: Finishing means the cable is out
    ]
    assert published[-1]["source_event_id"] == frames[9].id  # revealed by Finishing
    assert {e["inferred"] for e in published} == {True}
    assert len({e["id"] for e in published}) == len(published)


async def test_default_rules_for_other_models_and_redelivery_publishes_nothing_new() -> None:
    store, registry = MemoryInferenceStore(), load_rules(str(EXAMPLE))
    frames = session(Session("CP-2"), vendor="ABB", model="Terra")
    first = await run(store, frames, registry)
    triggers = [e["trigger_reason"] for e in first]
    assert triggers[-2:] == ["StopAuthorized", "EVDeparted"]  # default: departed at Available
    assert first[-1]["source_event_id"] == frames[10].id  # revealed by Available
    assert store.models["CP-2"] == "ABB\tTerra"
    assert await run(store, frames, registry) == []  # Kafka redelivered every frame


async def test_other_versions_and_heartbeats_load_no_state() -> None:
    class Untouchable(MemoryInferenceStore):
        async def load(self, station: str) -> tuple[str, dict[int, object]]:  # type: ignore[override]
            raise AssertionError("loaded state for a frame the fold ignores")

    s16, s201 = Session("CP-3"), Session("CP-4", "ocpp2.0.1")
    frames = [
        s16.call("Heartbeat", {}),
        s16.call("DataTransfer", {"vendorId": "x"}),
        s16.disconnect(),
        s201.call("TransactionEvent", transaction_event("Started", "t", 0, T0)),
    ]
    assert await run(Untouchable(), frames, RulesRegistry()) == []


def test_rules_file_errors_fail_loudly(tmp_path: Path) -> None:
    assert load_rules("").default == RulesRegistry().default
    bad = tmp_path / "rules.json"
    bad.write_text('{"default": {"finishing": "sometimes"}}')
    with pytest.raises(ValueError, match="finishing"):
        load_rules(str(bad))
