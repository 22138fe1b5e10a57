"""Hypothesis strategies for the read models' values: what JSON and Redis can carry (no lone
surrogates, no NaN, integers within what the domain stores)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Deterministic and bounded, as the suite runs in CI.
PROPERTY = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

text = st.text(st.characters(codec="utf-8"), max_size=24)
ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=16)
ms = st.integers(min_value=0, max_value=2**53)
small = st.integers(min_value=0, max_value=99)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | numbers | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(text, json_values, max_size=6)
