"""Faults under load from real chargers (`make chaos`): each CSMS service killed (`kill -9`),
the gateway paused (SIGSTOP), Redis and Kafka restarted; each part watched until it is back
and does its job again, and afterwards checked that nothing was lost.

    python -m loadtests.faults --rounds 3 --fleet 40 --json .local/chaos.json   # make chaos
    python -m loadtests.faults --faults "kill gateway,restart kafka" --rounds 1 --fleet 8

It runs a Kafka and a Redis of its own (loadtests.faults.infra: stack.sh with private ports and
state, so restarting them touches nobody else's), a `csms up` of its own on them (its own ports,
topic prefix and state folder) and a fleet of resilient chargers (loadtests.fleet: 1.6, 2.0.1
and 2.1, charging in a loop, retrying what was not answered). Each round injects every fault
chosen, one at a time, and measures for each:

* back: the fault -> the part answers again (killed: the supervisor restarted it; paused: the
  pause is over; restarted: Kafka or Redis is up again);
* recovered: the fault -> every part it touched does its job again, end to end - gateway: every
  station was served after the fault; processors: a session finished after it is `ended` with
  its final bill in the API; analytics: a frame received after it is queryable in ClickHouse;
  API: it lists stations (a restart of Kafka or Redis touches all four).

Then the fleet finishes the sessions it has going and the checks run:

1. every session a charger finished is `ended` in the API with the energy the charger metered,
   and has a final bill with that energy (the share must be 100 %);
2. every CALL a charger got a CALLRESULT for is on `ocpp.frames` exactly once;
3. ClickHouse has every frame of the fleet exactly once (`ocpp_frames FINAL`);
4. the read models equal what `csms replay --from-beginning` rebuilds from Kafka (csms up is
   stopped first: a replay refuses to run beside live processors).

Traffic goes to loopback only; the run is bounded by --rounds and the deadlines below.

The modules: infra (the private Kafka and Redis), stack (the `csms up` of its own, LocalStack),
run (run_faults: the inject and recover loop, FAULTS), report (Report, Recovery), checks (the
checks after the run) and cli (the command line, `__main__`).
"""

from loadtests.faults.infra import PrivateInfra
from loadtests.faults.report import Recovery, Report
from loadtests.faults.run import FAULTS, KILLS, run_faults
from loadtests.faults.stack import SERVICES, LocalStack

__all__ = [
    "FAULTS", "KILLS", "SERVICES", "LocalStack", "PrivateInfra", "Recovery", "Report",
    "run_faults",
]  # fmt: skip
