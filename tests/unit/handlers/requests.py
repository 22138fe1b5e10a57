"""Minimal valid requests built from the official request schemas: only the required fields,
each with the simplest value its schema allows, so every routed action can be exercised
without a hand-written payload per action and version."""

from __future__ import annotations

import json
from typing import Any

from csms.protocol.validation import schema_path
from csms.protocol.versions import OcppVersion

DATE_TIME = "2025-11-24T16:00:00.000Z"


def minimal_request(version: OcppVersion, action: str) -> dict[str, Any]:
    schema = json.loads(schema_path(version, action).read_text(encoding="utf-8"))
    value = _value(schema, schema.get("definitions", {}))
    assert isinstance(value, dict)
    return value


def _value(node: dict[str, Any], definitions: dict[str, Any]) -> Any:
    if "$ref" in node:
        return _value(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type", "object")
    if kind == "object":
        properties = node.get("properties", {})
        return {name: _value(properties[name], definitions) for name in node.get("required", [])}
    if kind == "array":
        item = _value(node.get("items", {}), definitions)
        return [item] * max(1, node.get("minItems", 1))
    if kind == "string":
        return DATE_TIME if node.get("format") == "date-time" else "x"
    if kind in ("integer", "number"):
        return max(0, node.get("minimum", 0))
    if kind == "boolean":
        return False
    raise AssertionError(f"no minimal value for schema node {node}")
