"""Payloads drawn from an action's own JSON schema, so the fuzzer reaches deep into it: the
schema's objects, enums, lengths and bounds are followed, and at any node a value may be
replaced by any JSON (a wrong type, a missing required field, an unknown property)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import strategies as st

from csms.protocol.validation import schema_path
from csms.protocol.versions import OcppVersion
from tests.fuzz.json_values import json_values

MUTATE_ONE_IN = 12  # a node is replaced by any JSON one time in this many
_dates = st.integers(0, 4_102_444_800_000).map(  # 1970 to 2100, in milliseconds
    lambda ms: datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
)


@functools.cache
def load_schema(version: OcppVersion, action: str, response: bool) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(
        schema_path(version, action, response=response).read_bytes()
    )
    return loaded


def payloads(
    version: OcppVersion, action: str, *, response: bool = False
) -> st.SearchStrategy[Any]:
    schema = load_schema(version, action, response)
    return _node(schema, schema.get("definitions", {}), 0)


@st.composite
def _node(draw: st.DrawFn, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    if draw(st.integers(0, MUTATE_ONE_IN - 1)) == 0:
        return draw(json_values)
    if "$ref" in schema:
        return draw(_node(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth))
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"]))
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return draw(_object(schema, defs, depth))
    if kind == "array":
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 3), low + 3)
        item = schema.get("items", {})
        return draw(st.lists(_node(item, defs, depth + 1), min_size=low, max_size=high))
    if kind == "string":
        if schema.get("format") == "date-time":
            return draw(_dates)
        return draw(st.text(max_size=min(schema.get("maxLength", 20), 60)))
    if kind == "integer":
        return draw(st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31)))
    if kind == "number":
        low, high = schema.get("minimum"), schema.get("maximum")
        return draw(st.floats(low, high, allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return draw(st.booleans())
    return draw(json_values)


@st.composite
def _object(draw: st.DrawFn, schema: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    out: dict[str, Any] = {}
    for name, sub in properties.items():
        # Optional properties thin out with depth, so nested payloads stay small.
        if name in required or (depth < 4 and draw(st.booleans())):
            out[name] = draw(_node(sub, defs, depth + 1))
    return out
