"""The `ocpp.frames` envelope decoder under any input: a FrameEnvelope or EnvelopeError, never
another exception (a processor or the analytics sink skips and counts a bad record; anything
else would stop the partition on it). What the gateway writes decodes to itself."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from csms.envelope import DIRECTIONS, ENVELOPE_VERSION, KINDS, EnvelopeError, FrameEnvelope, decode
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.json_values import json_values, wire_bytes

_REQUIRED = ("v", "id", "ts", "station", "gw", "conn", "proto", "dir", "kind", "uid", "action")
_OPTIONAL = ("frame", "err", "flag")
_text = st.text(max_size=20)

# Envelope-shaped objects: each field the right type most of the time, any JSON otherwise.
_field_values: dict[str, st.SearchStrategy[Any]] = {
    "v": st.one_of(st.just(ENVELOPE_VERSION), json_values),
    "ts": st.one_of(st.integers(0, 2**53), json_values),
    "dir": st.one_of(st.sampled_from(sorted(DIRECTIONS)), json_values),
    "kind": st.one_of(st.sampled_from(sorted(KINDS)), json_values),
}
envelope_like: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {k: _field_values.get(k, st.one_of(_text, json_values)) for k in _REQUIRED},
    optional={k: st.one_of(_text, json_values) for k in _OPTIONAL},
).flatmap(
    lambda d: st.sets(st.sampled_from(_REQUIRED), max_size=2).map(
        lambda dropped: {k: v for k, v in d.items() if k not in dropped}
    )
)

valid_envelopes: st.SearchStrategy[FrameEnvelope] = st.builds(
    FrameEnvelope,
    id=_text, ts=st.integers(0, 2**53), station=_text, gw=_text, conn=_text, proto=_text,
    dir=st.sampled_from(sorted(DIRECTIONS)), kind=st.sampled_from(sorted(KINDS)),
    uid=_text, action=_text, frame=_text, err=_text, flag=_text,
)  # fmt: skip


def _decodes_or_refuses(raw: bytes) -> None:
    try:
        env = decode(raw)
    except EnvelopeError:
        return
    assert env.dir in DIRECTIONS and env.kind in KINDS and isinstance(env.ts, int)


@fuzz_settings()
@given(wire_bytes)
def test_any_bytes_decode_or_are_refused(raw: bytes) -> None:
    _decodes_or_refuses(raw)


@fuzz_settings()
@given(envelope_like)
def test_any_envelope_shaped_object_decodes_or_is_refused(value: dict[str, Any]) -> None:
    _decodes_or_refuses(orjson.dumps(value))


@fuzz_settings()
@given(valid_envelopes)
def test_an_envelope_decodes_to_itself(env: FrameEnvelope) -> None:
    assert decode(env.encode()) == env
