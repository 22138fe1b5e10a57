"""The bench's scales: how many chargers, gateways and seconds each scenario gets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    burst_frames: int
    steady_chargers: int
    steady_ramp_s: float
    steady_hold_s: float
    capacity_chargers: int
    capacity_ramp_s: float
    gateways: int
    swarm_processes: int
    storm_budget_s: float
    boot_wait_s: float  # longest wait for a swarm to be booted (ramp included)
    throughput_chargers: int
    throughput_s: float
    command_chargers: int  # connected chargers that answer operator commands
    command_rates: tuple[float, ...]  # commands per second through the API, one run each
    command_s: float
    processors_frames: int  # backlog folded by one processor process
    processors_paced_s: int  # seconds of frames at the gateway's rate (lag, bills)
    replay_frames: int
    sink_frames: int  # backlog written by the analytics sink


SCALES = {
    "small": Scale(
        burst_frames=2000,
        steady_chargers=300,
        steady_ramp_s=3,
        steady_hold_s=8,
        capacity_chargers=300,
        capacity_ramp_s=3,
        gateways=3,
        swarm_processes=1,
        storm_budget_s=60,
        boot_wait_s=60,
        throughput_chargers=100,
        throughput_s=8,
        command_chargers=100,
        command_rates=(20, 100),
        command_s=5,
        processors_frames=20_000,
        processors_paced_s=10,
        replay_frames=50_000,
        sink_frames=50_000,
    ),
    "medium": Scale(
        burst_frames=5000,
        steady_chargers=2000,
        steady_ramp_s=10,
        steady_hold_s=20,
        capacity_chargers=3000,
        capacity_ramp_s=10,
        gateways=3,
        swarm_processes=3,
        storm_budget_s=120,
        boot_wait_s=150,
        throughput_chargers=500,
        throughput_s=15,
        command_chargers=500,
        command_rates=(50, 500),
        command_s=10,
        processors_frames=100_000,
        processors_paced_s=30,
        replay_frames=300_000,
        sink_frames=150_000,
    ),
    "full": Scale(
        burst_frames=20000,
        steady_chargers=10_000,
        steady_ramp_s=60,
        steady_hold_s=60,
        capacity_chargers=50_000,
        capacity_ramp_s=120,
        gateways=3,
        swarm_processes=3,
        storm_budget_s=150,
        boot_wait_s=240,
        throughput_chargers=2000,
        throughput_s=30,
        command_chargers=1000,
        command_rates=(50, 200, 1000),
        command_s=20,
        processors_frames=200_000,
        processors_paced_s=60,
        replay_frames=1_000_000,
        sink_frames=300_000,
    ),
}
