"""The `csms replay` command line (kept apart from main.py so that building the CLI's parser
loads no Kafka client)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "replay",
        help="rebuild the processors' read models and outputs from Kafka (processors stopped)",
    )
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        required=True,
        help="fold every retained record of the frames and policy topics (the only mode)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be done and change nothing"
    )
    parser.add_argument(
        "--store",
        choices=("memory", "redis"),
        default="memory",
        help="fold in memory and write Redis at the end (default, fast) or straight into Redis "
        "(a round trip per read and write: ~6x slower, but memory stays flat)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="fold in this many processes, each a share of the frames partitions (at most one "
        "per partition; default 1)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
