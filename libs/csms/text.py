"""Redis replies as text, whichever way the client was built (with or without decode_responses):
one helper for every reader of Redis values (pure, so the domain can use it too)."""

from __future__ import annotations

from collections.abc import Sequence


def as_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def text_fields(names: Sequence[str], values: Sequence[object]) -> dict[str, str | None]:
    """An HMGET reply as {field: text or None}."""
    return {n: None if v is None else as_text(v) for n, v in zip(names, values, strict=True)}
