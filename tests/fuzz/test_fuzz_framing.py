"""OCPP-J framing (csms.protocol.framing) under any input: a Message or FrameRejected, never
another exception; what the CSMS writes it reads back unchanged."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from csms.protocol.errors import FrameRejected
from csms.protocol.framing import (
    Call,
    CallError,
    CallResult,
    call_error_text,
    call_result_text,
    call_text,
    parse,
)
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.json_values import json_objects, json_values, wire_bytes

# Arrays shaped like OCPP-J frames, each position drawn from likely and unlikely values.
_kinds = st.one_of(st.sampled_from([2, 3, 4]), json_values)
_uids = st.one_of(st.text(min_size=1, max_size=36), st.text(max_size=60), json_values)
frame_like: st.SearchStrategy[list[Any]] = st.tuples(
    _kinds, _uids, st.lists(json_values, max_size=4)
).map(lambda t: [t[0], t[1], *t[2]])


def _parses_or_rejects(raw: str | bytes) -> None:
    try:
        message = parse(raw)
    except FrameRejected as exc:
        assert exc.args  # a reason a station can be told
        return
    assert isinstance(message, Call | CallResult | CallError)
    assert isinstance(message.uid, str) and 0 < len(message.uid) <= 36


@fuzz_settings()
@given(wire_bytes)
def test_any_bytes_parse_or_are_rejected(raw: bytes) -> None:
    _parses_or_rejects(raw)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return
    _parses_or_rejects(text)


@fuzz_settings()
@given(frame_like)
def test_any_frame_shaped_array_parses_or_is_rejected(frame: list[Any]) -> None:
    _parses_or_rejects(orjson.dumps(frame))


@fuzz_settings()
@given(st.text(min_size=1, max_size=36), st.text(min_size=1, max_size=40), json_objects)
def test_what_the_csms_writes_reads_back(uid: str, action: str, payload: dict[str, Any]) -> None:
    assert parse(call_text(uid, action, payload)) == Call(uid, action, payload)
    assert parse(call_result_text(uid, payload)) == CallResult(uid, payload)
    error = parse(call_error_text(uid, "InternalError", action, payload))
    assert error == CallError(uid, "InternalError", action, payload)
