"""An AuditSink for the API's unit tests: keeps the records it is given."""

from __future__ import annotations

from typing import Any


class MemoryAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    async def record(self, topic: str, key: str, record: dict[str, Any]) -> None:
        self.records.append((topic, key, record))
