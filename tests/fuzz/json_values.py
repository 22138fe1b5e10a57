"""Hypothesis strategies for what a peer can put on the wire: any JSON value (with the odd
shapes stations and producers send: big integers, deep nesting, unicode, empty containers),
and raw bytes or text that is not JSON at all."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

# JSON's scalars as orjson reads them: integers within 64 bits, finite floats, any text.
scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6), st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)

json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    st.text(max_size=12), json_values, max_size=8
)


def encoded(value: Any) -> bytes:
    return orjson.dumps(value)


# Text as a socket delivers it: JSON, JSON cut short, or noise.
wire_bytes: st.SearchStrategy[bytes] = st.one_of(
    json_values.map(encoded),
    json_values.map(encoded).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
    st.binary(max_size=200),
)
