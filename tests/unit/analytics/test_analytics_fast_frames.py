"""Parity of the frames fast path (services.analytics.fast_frames) with the exact path
(rows.route_frame: envelope decode, csms.domain flatten, meter_row).

For every input, the sink's result - the fast path's rows when it takes the event, else the
exact path's - must equal the exact path's rows in every column of every row (compared by
repr: -0.0 is not 0.0, 1 is not 1.0), and the fast path may only take events the exact path
decodes without a problem (the metrics name those). Inputs: the domain tests' cases, the edge
cases of every rule, odd envelopes, a realistic network, a random corpus, and payloads generated
by hypothesis (1.6 and 2.x, normal and odd shapes). The normal shape must not fall back.

Derandomized so CI sees the same examples every run; HYPOTHESIS_PROFILE=explore searches wider.
"""

from __future__ import annotations

import os

import orjson
from hypothesis import HealthCheck, given, settings

from services.analytics import fast_frames
from services.analytics.batch import Batch
from services.analytics.fast_frames import add_frame
from services.analytics.rows import METER_VALUES, OCPP_FRAMES, Row, route_frame
from tests.unit.analytics.frame_cases import (
    call,
    domain_cases,
    edge_cases,
    odd_envelopes,
    random_corpus,
    realistic_corpus,
)
from tests.unit.analytics.frame_strategies import frames
from tests.unit.domain.builders import T0

settings.register_profile(
    "ci", max_examples=400, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile("explore", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

Rows = tuple[list[Row], list[Row]]
# A row already in the batch: the fast path must leave it alone when it gives up.
_EARLIER_METER: Row = (1, "E", 0, 0, "", "m", "", "Outlet", "Wh", 1.0, "c", "ocpp1.6", "e0", 0)


def exact(raw: bytes | None) -> tuple[Rows, str]:
    routed = route_frame(raw)
    rows = routed.rows
    return (rows.get(OCPP_FRAMES.name, []), rows.get(METER_VALUES.name, [])), routed.problem


def fast(raw: bytes | None) -> Rows | None:
    """The fast path's rows, or None when it left the event to the exact path."""
    batch = Batch(max_rows=10**6, max_age_s=1.0)
    frames_columns, meter = batch.columns(OCPP_FRAMES), batch.columns(METER_VALUES)
    for column, value in zip(meter.data, _EARLIER_METER, strict=True):
        column.append(value)
    if not add_frame(raw, frames_columns, meter):
        assert len(frames_columns) == 0, "archived, then gave up"
        assert meter.all_rows() == [_EARLIER_METER], "appended samples, then gave up"
        return None
    return frames_columns.all_rows(), meter.all_rows()[1:]


def check(raws: list[bytes]) -> tuple[int, int]:
    """Assert parity on every input; (events the fast path took, meter rows compared)."""
    taken = samples = 0
    for raw in raws:
        expected, problem = exact(raw)
        rows = fast(raw)
        if rows is not None:
            taken += 1
            assert problem == "", (raw, problem)
        got = expected if rows is None else rows
        assert repr(got) == repr(expected), raw
        samples += len(expected[1])
    return taken, samples


def test_domain_cases_flatten_alike() -> None:
    taken, samples = check([e.encode() for e in domain_cases()])
    assert samples > 80 and taken > 60


def test_edge_cases_flatten_alike() -> None:
    taken, samples = check([e.encode() for e in edge_cases()])
    assert samples > 150 and taken > 100


def test_odd_envelopes_are_left_to_the_exact_path() -> None:
    raws = odd_envelopes()
    check(raws)
    taken = [orjson.loads(raw) for raw in raws if fast(raw) is not None]
    # Only those decode() reads as the normal envelope: v true or 1.0 (== 1), no frame ("").
    assert [(repr(d["v"]), "frame" in d) for d in taken] == [
        ("True", True), ("1.0", True), ("1", False),
    ]  # fmt: skip
    assert fast(None) is None


def test_a_realistic_network_takes_the_fast_path_only() -> None:
    raws = [e.encode() for e in realistic_corpus()]
    taken, samples = check(raws)
    assert taken == len(raws)
    assert samples > 500


def test_a_random_corpus_flattens_alike() -> None:
    taken, samples = check([e.encode() for e in random_corpus(2000)])
    assert samples > 2000 and taken > 500


@given(frames(normal=False))
def test_generated_frames_flatten_alike(raw: bytes) -> None:
    check([raw])


@given(frames(normal=True))
def test_generated_frames_in_the_normal_shape_take_the_fast_path(raw: bytes) -> None:
    rows = fast(raw)
    assert rows is not None, orjson.loads(raw)
    assert repr(rows) == repr(exact(raw)[0])


def _stamped(timestamp: str, ts: int) -> bytes:
    payload = {"connectorId": 1, "meterValue": [{"timestamp": timestamp, "sampledValue": [
        {"value": "1"}]}]}  # fmt: skip
    return orjson.dumps({**call("MeterValues", payload).to_dict(), "ts": ts})


def test_remembered_timestamps_keep_each_frames_own_fallback() -> None:
    """The fast path remembers parsed timestamps; an unreadable one still falls back to the
    receive time of the frame at hand, and the memory stays bounded."""
    stamps = [("yesterday", ts) for ts in (1_000, 2_000, 1_000)]
    stamps += [("2025-03-01T08:00:00Z", ts) for ts in (1_000, 2_000)]
    rows = [fast(_stamped(timestamp, ts)) for timestamp, ts in stamps]
    assert [r[1][0][0] if r else None for r in rows] == [1_000, 2_000, 1_000] + [T0] * 2
    check([_stamped(f"2025-03-01T08:00:00.{i:04d}Z", T0) for i in range(5000)])
    assert len(fast_frames._TIMESTAMPS) <= fast_frames._TIMESTAMPS_KEPT
