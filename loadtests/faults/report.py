"""What a fault run measured: each kill's recovery times and the after-run checks' counts."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recovery:
    fault: str  # "kill gateway", "pause gateway", "restart kafka", …
    round: int
    back_s: float
    recovered_s: float
    skipped: str = ""  # why the fault could not be injected here (e.g. no netem in the kernel)


@dataclass
class Report:
    recoveries: list[Recovery] = field(default_factory=list)
    sessions: int = 0
    sessions_ok: int = 0
    session_problems: list[str] = field(default_factory=list)
    answered_calls: int = 0
    calls_missing: int = 0
    calls_duplicated: int = 0
    fleet_frames: int = 0
    clickhouse_missing: int = 0
    clickhouse_duplicated: int = 0
    replay_differences: list[str] = field(default_factory=list)
    replay_samples: dict[str, Any] = field(default_factory=dict)  # the first few, both sides
    sigterm_stop_s: dict[str, float] = field(default_factory=dict)  # under load
    connects: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.sessions > 0
            and self.sessions_ok == self.sessions
            and not (self.calls_missing or self.calls_duplicated)
            and not (self.clickhouse_missing or self.clickhouse_duplicated)
            and not self.replay_differences
        )

    def summary(self) -> dict[str, Any]:
        by_fault: dict[str, Any] = {}
        for fault in dict.fromkeys(r.fault for r in self.recoveries):
            runs = [r for r in self.recoveries if r.fault == fault and not r.skipped]
            skipped = [r.skipped for r in self.recoveries if r.fault == fault and r.skipped]
            if skipped and not runs:
                by_fault[fault] = {"runs": 0, "skipped": skipped[0]}
            elif runs:
                by_fault[fault] = {
                    "runs": len(runs),
                    "back_p50_s": round(statistics.median(r.back_s for r in runs), 2),
                    "back_max_s": round(max(r.back_s for r in runs), 2),
                    "recovered_p50_s": round(statistics.median(r.recovered_s for r in runs), 2),
                    "recovered_max_s": round(max(r.recovered_s for r in runs), 2),
                }
        share = 100.0 * self.sessions_ok / self.sessions if self.sessions else 0.0
        return {
            "ok": self.ok,
            "recovery": by_fault,
            "sessions": self.sessions,
            "sessions_ended_right_pct": round(share, 2),
            "answered_calls": self.answered_calls,
            "calls_missing_in_kafka": self.calls_missing,
            "calls_duplicated_in_kafka": self.calls_duplicated,
            "fleet_frames": self.fleet_frames,
            "clickhouse_missing": self.clickhouse_missing,
            "clickhouse_duplicated": self.clickhouse_duplicated,
            "replay_differences": len(self.replay_differences),
            "reconnects": self.connects,
            "retried_calls": self.retries,
            "sigterm_stop_s": self.sigterm_stop_s,
        }
