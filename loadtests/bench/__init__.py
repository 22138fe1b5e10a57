"""`make bench`: the standard scenarios against real gateways, the API, Kafka and Redis.

Every gateway it starts is its own `csms gateway` process (own port and GATEWAY_ID, a topic prefix
of its own, Redis DB 8), so a running `make up` is not disturbed; everything it starts is stopped
again, on failure and Ctrl-C too. Scenarios:

* burst: one connection sequential / pipelined and 100 connections (`loadtests.burst`), then what
  the frames cost in Kafka (log bytes per frame, batch zstd vs per-event zstd with a dictionary);
* steady: 10,000 chargers (`loadtests.swarm`) over the gateway processes; once all are booted,
  a window of steady traffic -> CALL->CALLRESULT p50/p95/p99;
* capacity: as many chargers as the targets ask for (50,000) over 3 gateway processes and 3 swarm
  processes -> connections held and gateway RSS per charger (without, then with compression);
* storm: the capacity swarm stays, the gateways are killed (SIGKILL) and restarted -> seconds
  until every charger is booted again;
* throughput: chargers sending as fast as OCPP allows into one gateway -> frames into Kafka per
  second of gateway CPU;
* commands: an operator API process and 1,000 swarm chargers that answer CSMS CALLs; operator
  commands at fixed rates (`loadtests.commands`) -> round trip p50/p95/p99 and the rate answered.

    python -m loadtests.bench --scale small|medium|full [--scenarios capacity,storm]
        [--write-docs docs/benchmarks.md]

The modules: scales (the Scale table), processes (the gateway, API and swarm processes the bench
starts and stops), progress (a swarm's live counters and waiting on them), one per scenario group
(burst, steady, capacity with storm, throughput, commands), report (the Markdown section of
docs/benchmarks.md) and cli (the command line, `__main__`).
"""
