"""The `csms replay` command line and its summary."""

from __future__ import annotations

import argparse
from collections import Counter

import pytest

from services.replay.args import add_parser
from services.replay.fold import FoldStats
from services.replay.kafka_io import Span, partition_of
from services.replay.main import Summary


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="csms")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["replay", *argv])


def test_the_only_mode_must_be_named() -> None:
    with pytest.raises(SystemExit) as exited:
        parse()
    assert exited.value.code == 2
    args = parse("--from-beginning")
    assert (args.dry_run, args.store, args.workers) == (False, "memory", 1)
    assert parse("--from-beginning", "--workers", "3", "--store", "redis").workers == 3
    with pytest.raises(SystemExit):
        parse("--from-beginning", "--workers", "0")


def test_the_summary_names_counts_rates_and_retention_gaps() -> None:
    spans = [
        Span("ocpp.frames", 0, 0, 600),
        Span("ocpp.frames", 1, 100, 500),
        Span("csms.policy", 0, 0, 2),
    ]
    stats = FoldStats(
        records=Counter({"ocpp.frames": 1000, "csms.policy": 2}),
        failed=Counter({"transactions": 1}),
    )
    summary = Summary(spans, stats, {"csms.status": 5, "csms.transactions": 900}, 7, 40, 2.0)
    lines = summary.lines("ocpp.frames")
    assert lines[0] == "replay: 1000 frames folded in 2.0 s (500 frames/s)"
    assert "  ocpp.frames: 1000 records from 2 partitions (offsets 0:0-600 1:100-500)" in lines
    assert "  outputs published: csms.status 5, csms.transactions 900" in lines
    assert "  read model: 7 keys wiped, 40 keys rebuilt" in lines
    assert any("retention" in line and "ocpp.frames[1] (before 100)" in line for line in lines)
    assert lines[-1] == "  steps that raised (skipped, as the live agents do): transactions 1"


def test_partitions_follow_the_java_murmur2_partitioner() -> None:
    # Kafka's own test vectors (Utils.murmur2 via DefaultPartitioner, 100 partitions).
    assert partition_of(b"21", 100) == (-973932308 & 0x7FFFFFFF) % 100
    assert partition_of(b"foobar", 100) == (-790332482 & 0x7FFFFFFF) % 100
