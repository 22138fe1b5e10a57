"""The production overlay holds the network it is sized for (docs/kubernetes.md "Sizing"):
100,000 chargers at the per-process figures measured in docs/benchmarks.md."""

from __future__ import annotations

import math

from tests.k8s.manifests import one, render

CHARGERS = 100_000
# 80 % of the 9,269 chargers one gateway process held (docs/benchmarks.md): headroom for a
# reconnect storm.
CHARGERS_PER_GATEWAY_POD = 7_500
# Peak frames/s of 100,000 chargers (docs/kubernetes.md: heartbeats every 300 s, 30 % charging
# with a meter value a minute; every CALL and its answer), and what one processor folds
# (docs/benchmarks.md).
PEAK_FRAMES_PER_S = 1_700
PROCESSOR_FRAMES_PER_S = 315
ANALYTICS_FRAMES_PER_S = 14_863


def test_gateways_hold_every_charger_at_the_minimum_scale() -> None:
    objects = render("production")
    hpa = one(objects, "HorizontalPodAutoscaler", "csms-gateway")
    assert hpa["spec"]["minReplicas"] * CHARGERS_PER_GATEWAY_POD >= CHARGERS
    # Losing one pod (a drain, a node) still leaves room for its stations.
    assert (hpa["spec"]["minReplicas"] - 1) * 9_269 >= CHARGERS


def test_processors_fold_the_peak_with_headroom() -> None:
    replicas = one(render("production"), "Deployment", "csms-processors")["spec"]["replicas"]
    assert replicas >= 2 * math.ceil(PEAK_FRAMES_PER_S / PROCESSOR_FRAMES_PER_S)


def test_analytics_sinks_survive_losing_one() -> None:
    replicas = one(render("production"), "Deployment", "csms-analytics")["spec"]["replicas"]
    assert (replicas - 1) * ANALYTICS_FRAMES_PER_S >= PEAK_FRAMES_PER_S
