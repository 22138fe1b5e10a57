"""Hours of realistic load with every process watched (`make soak HOURS=N`): memory, open files,
CPU, consumer lag and latency sampled every minute, charts drawn, growth judged against stated
bounds, and at the end the same nothing-lost checks as `make chaos`.

    python -m loadtests.soak --hours 2 --json .local/soak/soak.json --charts docs/reliability

It runs a Kafka and a Redis of its own and a `csms up` of its own on them (the fault run's
PrivateInfra and LocalStack: own ports, topic prefix and state), then two loads:

* a swarm of raw OCPP-J chargers (loadtests.swarm: 1.6 and 2.0.1, heartbeats, status, sessions
  with meter values) - the bulk of the traffic;
* a fleet of resilient `ocpp` ChargePoints (loadtests.fleet: 1.6, 2.0.1, 2.1, sessions with
  meter values under a tariff, so cost is shown and bills are made) whose every answered CALL
  and finished session is recorded for the checks, and whose CALL round trips are the latency.

Every `--sample-s` seconds (60) a row goes to samples.jsonl (soak.sample): per process (the
four services, Kafka, Redis, the swarm) RSS, open files and CPU; each consumer group's lag
(processors, billing, analytics); the fleet's CALL latency and the API's. At the end
soak.analysis fits a line per series after the warm-up and holds the slopes to BOUNDS,
soak.chart draws one PNG per measure, and the checks of loadtests.faults run: every session
ended and billed right, every answered CALL in Kafka once, every frame in ClickHouse once, the
read models equal to a replay.

Traffic goes to loopback only; the run stops by itself after --hours.
"""

from loadtests.soak.analysis import BOUNDS, Verdict, judge
from loadtests.soak.run import SoakConfig, run_soak

__all__ = ["BOUNDS", "SoakConfig", "Verdict", "judge", "run_soak"]
