"""The played pods' probes, checked from outside (podman 4.3 would run httpGet probes with a
curl the image does not have), and each service's start time in its container.

    python deploy/podman/probes.py PLAY.yaml wait          every readiness, then every liveness
    python deploy/podman/probes.py PLAY.yaml start-times   restart each container alone, timed

Both print one JSON object: per Deployment the probe URLs, their HTTP status and the seconds
until ready.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
DEADLINE_S = 180.0


def probe_urls(play: Path) -> dict[str, dict[str, str]]:
    """Deployment name -> {probe kind: URL} (the pods share the host's network)."""
    urls: dict[str, dict[str, str]] = {}
    for doc in yaml.safe_load_all(play.read_text()):
        if not doc or doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        urls[doc["metadata"]["name"]] = {
            kind: f"http://127.0.0.1:{get['port']}{get['path']}"
            for kind in PROBES
            if (get := container.get(kind, {}).get("httpGet"))
        }
    return urls


def container_name(play: Path, deployment: str) -> str:
    """What `podman kube play` names a Deployment's single container."""
    for doc in yaml.safe_load_all(play.read_text()):
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == deployment:
            return f"{deployment}-pod-0-{doc['spec']['template']['spec']['containers'][0]['name']}"
    raise KeyError(deployment)


def status(url: str) -> int:
    if not url.startswith("http://"):
        raise ValueError(f"not an http URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (http only)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def wait_ok(url: str, started: float) -> float:
    """Seconds from `started` until `url` answers 200; raises after DEADLINE_S."""
    while status(url) != 200:
        if time.monotonic() - started > DEADLINE_S:
            raise TimeoutError(f"{url} not ready after {DEADLINE_S:.0f} s")
        time.sleep(0.1)
    return round(time.monotonic() - started, 2)


def wait_all(play: Path) -> dict[str, Any]:
    started = time.monotonic()
    report: dict[str, Any] = {}
    for deployment, urls in probe_urls(play).items():
        ready = wait_ok(urls["readinessProbe"], started)
        report[deployment] = {
            "ready_s": ready,
            "probes": {kind: {"url": url, "status": status(url)} for kind, url in urls.items()},
        }
    return report


def start_times(play: Path) -> dict[str, float]:
    """Each container stopped, then started and timed to readiness, one at a time."""
    times: dict[str, float] = {}
    for deployment, urls in probe_urls(play).items():
        name = container_name(play, deployment)
        subprocess.run(["podman", "stop", "-t", "30", name], check=True, capture_output=True)
        started = time.monotonic()
        _start(name)
        times[deployment] = wait_ok(urls["readinessProbe"], started)
    return times


def _start(name: str) -> None:
    """`podman start`, again if the stop has not settled yet (podman then answers 125)."""
    for attempt in range(5):
        done = subprocess.run(["podman", "start", name], check=False, capture_output=True)
        if done.returncode == 0:
            return
        time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"podman start {name}: {done.stderr.decode(errors='replace')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("play", type=Path)
    parser.add_argument("what", choices=("wait", "start-times"))
    args = parser.parse_args(argv)
    try:
        report = wait_all(args.play) if args.what == "wait" else start_times(args.play)
    except TimeoutError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
