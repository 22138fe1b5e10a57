"""The operator API's operations as its OpenAPI document lists them, for tests that must cover
every route, including the ones added later (the auth matrix, the body fuzzing)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI

_PARAMETER = re.compile(r"\{[^}]+\}")


def operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation object) of every operation of the document."""
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def fill(template: str, values: Iterable[str]) -> str:
    """`template` with each `{parameter}` replaced by the next of `values`."""
    given = iter(values)
    return _PARAMETER.sub(lambda _: next(given), template)
