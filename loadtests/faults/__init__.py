"""`kill -9` each CSMS service under load from real chargers, watch it come back by itself, and
check afterwards that nothing was lost.

    python -m loadtests.faults --rounds 5 --fleet 20            # docs/benchmarks.md "Faults"
    python -m loadtests.faults --rounds 1 --fleet 12 --json out.json

It runs a `csms up` of its own (its own ports, topic prefix, Redis database and state folder, on
the Kafka and Redis that `make test` / `make up` started) and a fleet of resilient chargers
(loadtests.fleet: 1.6, 2.0.1 and 2.1, charging in a loop, retrying what was not answered). Each
round kills the gateway, then the processors, then the analytics sink, then the API, one at a
time, and measures for each:

* back: kill -> its health endpoint answers again (the supervisor restarted it);
* recovered: kill -> it does its job again, end to end - gateway: every station was served after
  the kill; processors: a session finished after the kill is `ended` with its final bill in the
  API; analytics: a frame received after the kill is queryable in ClickHouse; API: it lists
  stations.

Then the fleet finishes the sessions it has going and the checks run:

1. every session a charger finished is `ended` in the API with the energy the charger metered,
   and has a final bill with that energy (the share must be 100 %);
2. every CALL a charger got a CALLRESULT for is on `ocpp.frames` exactly once;
3. ClickHouse has every frame of the fleet exactly once (`ocpp_frames FINAL`);
4. the read models equal what `csms replay --from-beginning` rebuilds from Kafka (csms up is
   stopped first: a replay refuses to run beside live processors).

Traffic goes to loopback only; the run is bounded by --rounds and the deadlines below.

The modules: stack (the `csms up` of its own, LocalStack), run (run_faults: the kill and recover
loop), report (Report, Recovery), checks (the checks after the run) and cli (the command line,
`__main__`).
"""

from loadtests.faults.report import Recovery, Report
from loadtests.faults.run import run_faults
from loadtests.faults.stack import SERVICES, LocalStack

__all__ = ["SERVICES", "LocalStack", "Recovery", "Report", "run_faults"]
