"""A Kafka and a Redis of the fault run's own (deploy/local/stack.sh with private ports and state
folder), so that restarting them — faults of their own — touches nobody else's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "deploy" / "local" / "stack.sh"
# stack.sh passes these to the JVM as they are: C1 only starts the broker much faster.
SMALL_KAFKA_HEAP = "-Xms128m -Xmx512m -XX:TieredStopAtLevel=1"


class PrivateInfra:
    """Kafka on `port_base`, its controller on `port_base + 1`, Redis on `port_base + 2`."""

    def __init__(self, state: Path, port_base: int) -> None:
        self.state = state
        self.kafka_port, self.controller_port = port_base, port_base + 1
        self.redis_port = port_base + 2
        share_kafka_jars(state)

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def redis_url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/{db}"

    def stack(self, *args: str) -> None:
        """`stack.sh <args>` on this infrastructure (raises with its output when it fails)."""
        env = {
            **os.environ,
            "CSMS_LOCAL_DIR": str(self.state),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "REDIS_PORT": str(self.redis_port),
            "KAFKA_HEAP_OPTS": SMALL_KAFKA_HEAP,
        }
        env.pop("KAFKA_BOOTSTRAP", None)
        env.pop("REDIS_URL", None)
        run = subprocess.run(
            ["bash", str(STACK_SH), *args], env=env, capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip
        if run.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)} failed:\n{run.stdout}\n{run.stderr}")

    def start(self) -> None:
        self.stack("start", "kafka", "redis")

    def restart(self, part: str) -> None:
        """Stop `part` (kafka or redis: SIGTERM, as an orchestrator does) and start it again on
        the same data (Kafka's log, Redis's AOF)."""
        self.stack("stop", part)
        self.stack("start", part)

    def wipe(self) -> None:
        self.stack("wipe")


def share_kafka_jars(state: Path) -> None:
    """Reuse the jars of the developer's stack (a symlink; `wipe` removes the link only) so a
    private broker does not run Maven again."""
    local = Path(os.environ.get("CSMS_LOCAL_DIR", REPO / ".local")) / "kafka" / "libs"
    target = state / "kafka" / "libs"
    if (local / ".complete").exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(local.resolve())
