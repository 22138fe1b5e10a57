"""What every station session of a gateway shares (identity, clock, Kafka, decisions, the
front door, policies and the cost side), built once by services.gateway.server."""

from __future__ import annotations

from dataclasses import dataclass, field

from csms.clock import Clock
from csms.handlers import Decisions
from csms.handlers.v201.transaction_cost import CostSource
from services.gateway.connections import Connections
from services.gateway.handshake import FrontDoor
from services.gateway.publisher import Publisher


@dataclass(frozen=True)
class GatewayContext:
    """What every session shares: identity, clock, Kafka, decisions, policies, connections."""

    gateway_id: str
    publisher: Publisher
    decisions: Decisions
    clock: Clock
    window: int
    door: FrontDoor = field(default_factory=FrontDoor)
    connections: Connections | None = None
    rate_per_s: float = 0.0  # <= 0: no rate limit
    rate_burst: int = 60
    idle_timeout_s: float = 0.0  # <= 0: never
    strict_call_order: bool = False  # 2.0.1/2.1: refuse a CALL sent while one is unanswered
    strict_schema: bool = False  # refuse payloads with properties their schema does not define
    # Where 2.x sessions' cost comes from (csms.infra.billing_lookups); None: tell no cost.
    cost_source: CostSource | None = None
