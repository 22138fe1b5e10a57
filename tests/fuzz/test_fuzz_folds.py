"""The projections' folds under any sequence of frames: real sessions of 1.6 and 2.0.1
stations (tests/unit/replay/corpus.py) reordered, duplicated, cut short and with any payload
value replaced by any JSON. Folded by the processors' own steps (the replay's fold, in memory):
no step raises, and the read model keeps its invariants — energy never negative, a transaction
that ended stays ended, 2.x seqNo ranges sorted and disjoint (the gaps between them are the
report of what is missing)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from csms.envelope import FrameEnvelope
from csms.infra.memory_redis import MemoryRedis
from services.replay.fold import Fold
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.json_values import json_values
from tests.unit.replay.corpus import corpus
from tests.unit.replay.folding import TOPICS, ListOutputs, fold_into

CORPUS = corpus("fuzz", stations=1)


def _replace_leaf(value: Any, path: list[int], new: Any) -> Any:
    """`value` with the leaf that `path` picks (indices taken modulo each container) replaced."""
    if not path or not isinstance(value, dict | list) or not value:
        return new
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        return {**value, key: _replace_leaf(value[key], path[1:], new)}
    i = path[0] % len(value)
    return [*value[:i], _replace_leaf(value[i], path[1:], new), *value[i + 1 :]]


@st.composite
def mutated(draw: st.DrawFn, env: FrameEnvelope) -> FrameEnvelope:
    """`env` with one value of its frame's payload (position 3 of a CALL, 2 of a result)
    replaced by any JSON."""
    frame = orjson.loads(env.frame) if env.frame else None
    if not isinstance(frame, list) or len(frame) < 3:
        return env
    path = [len(frame) - 1, *draw(st.lists(st.integers(0, 50), min_size=1, max_size=5))]
    new = _replace_leaf(frame, path, draw(json_values))
    return dataclasses.replace(env, frame=orjson.dumps(new).decode())


@st.composite
def frame_sequences(draw: st.DrawFn) -> list[FrameEnvelope]:
    """The corpus permuted locally (offline uploads arrive out of order), with duplicates,
    drops and mutated payloads."""
    out: list[FrameEnvelope] = []
    for original in CORPUS:
        action = draw(st.sampled_from(["keep"] * 6 + ["drop", "twice", "mutate"]))
        if action == "drop":
            continue
        env = draw(mutated(original)) if action == "mutate" else original
        out.append(env)
        if action == "twice":
            out.append(env)
    swaps = draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 4)), max_size=8))
    for at, distance in swaps:  # out of order, but only a few places apart
        i = at % max(len(out) - distance, 1)
        if i + distance < len(out):
            out[i], out[i + distance] = out[i + distance], out[i]
    return out


def fold(envs: list[FrameEnvelope]) -> tuple[Fold, ListOutputs]:
    """`envs` folded in memory by the processors' own steps: the fold and what it published."""
    outputs, the_fold = asyncio.run(fold_into(MemoryRedis(), envs))
    return the_fold, outputs


def _transactions(outputs: ListOutputs) -> list[dict[str, Any]]:
    """The transaction snapshots published (the topic also carries the 2.0.1-style events)."""
    published = (orjson.loads(v) for t, _, v in outputs.sent if t == TOPICS.transactions)
    return [tx for tx in published if tx.get("type") == "transaction"]


def test_the_unmutated_corpus_folds_cleanly() -> None:
    the_fold, outputs = fold(CORPUS)
    assert the_fold.stats.failed == {} and the_fold.stats.fatal == []
    assert {tx["state"] for tx in _transactions(outputs)} >= {"active", "ended"}


@fuzz_settings(scale=0.5)
@given(frame_sequences())
def test_any_sequence_of_frames_folds_without_a_step_raising(envs: list[FrameEnvelope]) -> None:
    the_fold, outputs = fold(envs)
    assert the_fold.stats.failed == {}, the_fold.stats
    assert the_fold.stats.fatal == []
    ended: set[str] = set()
    for tx in _transactions(outputs):  # snapshots in the order the fold published them
        assert tx["energy_wh"] >= 0, tx
        if tx["key"] in ended:
            assert tx["state"] == "ended", f"{tx['key']} ended, then active again"
        if tx["state"] == "ended":
            ended.add(tx["key"])
        ranges = tx["seq_ranges"]
        assert all(first <= last for first, last in ranges), ranges
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges)), ranges
        seen = {n for first, last in ranges for n in range(first, last + 1)}
        missing = set(tx["missing_seq_nos"] or [])
        assert not missing & seen, tx  # a gap is reported only where no seqNo was seen
        if ranges:
            assert all(ranges[0][0] < n < ranges[-1][1] for n in missing), tx
