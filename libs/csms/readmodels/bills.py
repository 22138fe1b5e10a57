"""The bills read model: the billing step's state of each transaction, whose public part is the
running or final bill, and the cost checkpoint the gateway extends for a session whose station
displays cost.

Keys (writer: the processors' billing step; readers: the API (`bill_of`), the gateway and the
billing's own lookups (`issued_bill`, checkpoints)):
* `csms:bill:<station>/<id>` string: JSON of the billing state (csms.domain.session_bill: the
  tariff version it is priced with, readings, display, revision, ...) with the bill so far under
  "bill" (state "running" or "final", money as decimal strings).
* `csms:cost:<station>/<id>` string, TTL 3 days after its last update: JSON {"tariff", "show",
  "state", "tx"} (csms.projections.billing.checkpoint, ADR 0014/0019); deleted when the session
  ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from csms.domain.session_bill import encode_state, json_default
from csms.readmodels.base import PREFIX, RedisReadModel, json_object, load_object, save_object

# How long a checkpoint outlives the last update of its session (the gateway only needs it
# while the session runs; a session silent this long is closed by policy anyway).
CHECKPOINT_TTL_S = 3 * 24 * 3600
FINAL = "final"


def bill_key(tx_key: str) -> str:
    """String: JSON of the billing state of one transaction (its bill under "bill")."""
    return f"{PREFIX}:bill:{tx_key}"


def checkpoint_key(tx_key: str) -> str:
    """String, expires: JSON of the cost checkpoint of a running session."""
    return f"{PREFIX}:cost:{tx_key}"


# --- codec ---------------------------------------------------------------------------------------


def encode_bill_state(state: Mapping[str, Any]) -> bytes:
    """The state's JSON (the billing keeps its walk as an object: csms.domain.session_bill)."""
    return encode_state(state)


def decode_bill_state(raw: str | bytes) -> dict[str, Any] | None:
    return json_object(raw, "billing state") if raw else None


def encode_checkpoint(checkpoint: Mapping[str, Any]) -> bytes:
    return orjson.dumps(checkpoint, default=json_default)


def decode_checkpoint(raw: str | bytes) -> dict[str, Any] | None:
    return json_object(raw, "cost checkpoint")


def bill_of(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The public bill of a billing state (running or final), with the EVSE and id token of its
    session when the state knows them; None before the billing priced anything."""
    if state is None:
        return None
    bill = state.get("bill")
    if not bill or not isinstance(bill, dict):
        return None
    known = {k: state[k] for k in ("evse", "id_token") if state.get(k) is not None}
    return {**known, **bill}


def issued_bill(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The final bill as issued (None while the session runs or before any bill)."""
    bill = None if state is None else state.get("bill")
    return bill if isinstance(bill, dict) and bill.get("state") == FINAL else None


# --- the contract --------------------------------------------------------------------------------


class Bills(Protocol):
    """The billing step's store (csms.projections.billing.BillingStore) and what readers load.
    A loaded state is decoded afresh at each load, except on the processors' write-behind copy,
    where it is the object last saved (decoded once, encoded at the flush): the billing step
    folds each snapshot into a copy (csms.domain.session_bill.BillState.of)."""

    async def load_bill(self, key: str) -> dict[str, Any] | None: ...

    async def save_bill(self, key: str, state: dict[str, Any]) -> None: ...

    async def load_checkpoint(self, key: str) -> dict[str, Any] | None: ...

    async def save_checkpoint(self, key: str, checkpoint: dict[str, Any] | None) -> None:
        """None deletes it (the session is over)."""
        ...


# --- Redis ---------------------------------------------------------------------------------------


class RedisBills(RedisReadModel):
    """On Redis, or on the processors' write-behind copy (a state decoded once per load from
    Redis and encoded once per flush, however many snapshots of a batch change it)."""

    async def load_bill(self, key: str) -> dict[str, Any] | None:
        return await load_object(self._redis, self._cache, bill_key(key), decode_bill_state)

    async def save_bill(self, key: str, state: dict[str, Any]) -> None:
        await save_object(self._redis, self._cache, bill_key(key), state, encode_bill_state)
        if self._cache is not None and state.get("ended"):
            self._cache.retire(bill_key(key))  # issued: not needed in memory after this batch

    async def load_checkpoint(self, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(checkpoint_key(key))
        return None if raw is None else decode_checkpoint(raw)

    async def save_checkpoint(self, key: str, checkpoint: dict[str, Any] | None) -> None:
        name = checkpoint_key(key)
        if checkpoint is None:
            await self._redis.delete(name)
        else:
            await self._redis.set(name, encode_checkpoint(checkpoint), ex=CHECKPOINT_TTL_S)


# --- in memory -----------------------------------------------------------------------------------


class MemoryBills:
    """States and checkpoints kept as their JSON objects after an encode/decode round trip (what
    Redis would keep; a caller's later changes never reach the stored copy). No expiry."""

    def __init__(self) -> None:
        self.bills: dict[str, dict[str, Any]] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}

    async def load_bill(self, key: str) -> dict[str, Any] | None:
        state = self.bills.get(key)
        return None if state is None else decode_bill_state(encode_bill_state(state))

    async def save_bill(self, key: str, state: dict[str, Any]) -> None:
        self.bills[key] = orjson.loads(encode_bill_state(state))

    async def load_checkpoint(self, key: str) -> dict[str, Any] | None:
        checkpoint = self.checkpoints.get(key)
        return None if checkpoint is None else decode_checkpoint(encode_checkpoint(checkpoint))

    async def save_checkpoint(self, key: str, checkpoint: dict[str, Any] | None) -> None:
        if checkpoint is None:
            self.checkpoints.pop(key, None)
        else:
            self.checkpoints[key] = orjson.loads(encode_checkpoint(checkpoint))
