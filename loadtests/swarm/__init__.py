"""An asyncio swarm of OCPP 1.6 / 2.0.1 chargers for 10k-100k connections on one machine.

    python -m loadtests.swarm --url ws://127.0.0.1:9000/ocpp --chargers 1000 --duration 60

Raw OCPP-J text frames (orjson), one coroutine per charger, many source addresses on 127.0.0.0/8,
several worker processes whose JSON reports are merged. See `loadtests.swarm.cli`.
"""

from loadtests.swarm.config import SwarmConfig
from loadtests.swarm.report import finalize, merge_reports
from loadtests.swarm.runner import run_swarm

__all__ = ["SwarmConfig", "finalize", "merge_reports", "run_swarm"]
