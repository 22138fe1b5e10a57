"""A scripted 1.6 station for the csms.domain.inference16 tests: it records every envelope
it exchanges with the CSMS, and `events()` folds them with infer_all."""

from __future__ import annotations

from typing import Any

from csms.domain.inference16 import DEFAULT_RULES, InferredEvent, Rules, RulesRegistry, infer_all
from csms.envelope import FrameEnvelope
from tests.unit.domain.builders import (
    T0,
    Session,
    meter_values16,
    mv16,
    start16,
    start16_result,
    status16,
    stop16,
    sv16,
)

MIN = 60_000


class Station:
    """A 1.6 station talking to the CSMS; records every envelope in order."""

    def __init__(self, station: str = "CP-1") -> None:
        self.s = Session(station)
        self.frames: list[FrameEnvelope] = []
        self.clock = T0

    def _add(self, env: FrameEnvelope) -> FrameEnvelope:
        self.frames.append(env)
        return env

    def tick(self, ms: int = MIN) -> int:
        self.clock += ms
        self.s.now = self.clock  # the gateway receives it at once (station clock in sync)
        return self.clock

    def status(self, status: str, connector: int = 1, error: str = "NoError") -> FrameEnvelope:
        return self._add(
            self.s.call("StatusNotification", status16(connector, status, error, ts=self.tick()))
        )

    def authorize(self, tag: str = "TAG1", result: str = "Accepted") -> FrameEnvelope:
        call = self._add(self.s.call("Authorize", {"idTag": tag}))
        return self._add(self.s.result(call, {"idTagInfo": {"status": result}}))

    def start(
        self, tx: int, connector: int = 1, tag: str = "TAG1", result: str = "Accepted"
    ) -> FrameEnvelope:
        call = self._add(
            self.s.call("StartTransaction", start16(connector, tag, 1000, self.tick()))
        )
        return self._add(self.s.result(call, start16_result(tx, result)))

    def meter(self, tx: int, connector: int = 1, context: str = "Sample.Periodic") -> FrameEnvelope:
        mv = mv16(self.tick(), sv16("1500", context=context))
        return self._add(
            self.s.call("MeterValues", meter_values16(connector, mv, transaction_id=tx))
        )

    def stop(self, tx: int, reason: str | None = None, ts: int | None = None) -> FrameEnvelope:
        stamp = ts if ts is not None else self.tick()
        return self._add(self.s.call("StopTransaction", stop16(tx, 2000, stamp, reason=reason)))

    def csms_call(self, action: str, payload: dict[str, Any]) -> FrameEnvelope:
        return self._add(self.s.csms_call(action, payload))

    def events(self, rules: Rules | RulesRegistry = DEFAULT_RULES) -> list[InferredEvent]:
        return infer_all(self.frames, rules)


def triggers(events: list[InferredEvent]) -> list[tuple[str, str]]:
    return [(e.trigger_reason, e.charging_state) for e in events]
