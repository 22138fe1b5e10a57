"""One place that wires the processors: which store each agent gets, the rules and the policy.
Used by the live app (services.processors.app) and by the replay (services.replay), so a
rebuilt read model is folded by exactly the configuration that keeps the live one."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import redis.asyncio as aioredis

from csms.infra.billing_lookups import BillingLookups
from csms.projections.billing import (
    BillingConfig,
    BillingStep,
    RedisBillingStore,
    StationMessages,
)
from csms.projections.device_models import RedisDeviceModelStore
from csms.projections.inference import RedisInferenceStore, load_rules
from csms.projections.pipeline import Outputs, Processors, ZombiePolicy
from csms.projections.stores import RedisClient, RedisStationStore, RedisTransactionStore
from csms.settings import Settings


def build_processors(
    settings: Settings,
    outputs: Outputs,
    redis_for: Callable[[str], RedisClient],
    messages: StationMessages | None = None,
) -> Processors:
    """The processors with `redis_for(agent)` as each agent's Redis (live: a write-behind copy
    per agent, and Redis itself for "zombie_sweep" and "lookups" - other owners' keys such as
    tariffs; replay: one in-memory Redis, except the lookups). `messages` sends the billing's
    calls to stations (None: send nothing, as in a replay)."""
    billing = BillingStep(
        RedisBillingStore(redis_for("billing")),
        BillingLookups(
            cast(aioredis.Redis, redis_for("lookups")),
            datatransfer16=settings.billing_datatransfer16,
        ),
        messages,
        BillingConfig(
            cost_interval_ms=settings.billing_cost_interval_s * 1000,
            datatransfer16=settings.billing_datatransfer16,
        ),
    )
    return Processors(
        settings.topics,
        outputs,
        transactions=RedisTransactionStore(redis_for("transactions")),
        stations=RedisStationStore(redis_for("status")),
        device_models=RedisDeviceModelStore(redis_for("device_model")),
        inference=RedisInferenceStore(redis_for("inference16")),
        rules=load_rules(settings.inference16_rules),
        policy=ZombiePolicy(
            idle_after_ms=settings.tx_zombie_after_s * 1000,
            reboot_grace_ms=settings.tx_reboot_grace_s * 1000,
        ),
        zombie_store=RedisTransactionStore(redis_for("zombie_sweep")),
        billing=billing,
    )
