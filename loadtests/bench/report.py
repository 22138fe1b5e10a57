"""The bench section of docs/benchmarks.md: the results as Markdown, written between the bench
markers, and the raw results of the previous run read back from there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtests.bench.processors import TARGETS

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _ms(lat: dict[str, Any]) -> str:
    return f"{lat.get('p50', 0)} / {lat.get('p95', 0)} / {lat.get('p99', 0)}"


def _errors(report: dict[str, Any]) -> str:
    errors = report.get("errors") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "none"


def markdown(results: dict[str, Any], header: dict[str, str]) -> str:
    out = [
        f"### `make bench` — {header['when']}",
        "",
        f"Command: `{header['command']}`. Machine: {header['machine']}. "
        f"Other load on the machine at start: {header['load']}.",
        "",
    ]
    for key, why in results.items():
        if key.endswith("_failed"):
            out += [f"**Scenario {key[:-7]} failed:** `{why}`", ""]
    if "burst" in results:
        r = results["burst"]
        out += [
            "**Burst** (one gateway, MeterValues-heavy mix, each CALL answered after the "
            "Kafka ack)",
            "",
            "| scenario | connections | CALLs | CALLs/s | p50 ms | p99 ms | errors "
            "| gateway CPU µs per CALL |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for x, cpu in zip(r["bursts"], r["cpu_us"], strict=True):
            out.append(
                f"| {x['mode']} | {x['connections']} | {x['frames']:,} | "
                f"{x['frames_per_s']:,.0f} | {x['p50_ms']} | {x['p99_ms']} | {x['errors']} | "
                f"{cpu:,.0f} |"
            )
        st = r["storage"]
        out += [
            "",
            "| Kafka bytes per frame (target ≤ 50, issue 19) | bytes |",
            "|---|---|",
            f"| envelope, uncompressed | {st['raw']:.0f} |",
            f"| Kafka log on disk, batch zstd as produced | {st['kafka_log']:.1f} |",
            f"| per-event zstd, trained 16 KiB dictionary (offline) | {st['dict']:.1f} |",
            f"| frames in topic | {st['frames']:,.0f} |",
            "",
        ]
    if "steady" in results:
        r = results["steady"]
        c, lat = r.get("connections", {"target": 0}), r.get("latency_ms", {"count": 0})
        out += [
            "**Steady state** (swarm: heartbeat 60 s, sessions 600 s on / 300 s off, meter "
            "values every 30 s, 1.6/2.0.1 half and half; latency recorded once every charger is "
            "booted, over the measured window)",
            "",
            "| chargers | booted (start / end of window) | s to boot | gateways | window s "
            "| CALLs measured | p50 / p95 / p99 ms (target p99 ≤ 50) | frames/s "
            "| gateway CPU s | errors (whole run) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {c['target']:,} | {r['booted_at_start']:,} / {r['booted_at_end']:,} | "
            f"{r['seconds_to_boot']} | {r['gateways']} | {r['measured_s']} | {lat['count']:,} | "
            f"{_ms(lat)} | {r['steady_frames_per_s']:,} | {r['gateway_cpu_s']} | {_errors(r)} |",
            "",
        ]
    caps = [results[k] for k in ("capacity", "capacity_compressed") if k in results]
    if caps:
        out += [
            "**Capacity** (chargers held at once; RSS summed over the gateway processes; "
            "target ≥ 50,000, none dropped, ≤ 30 KB per charger above idle)",
            "",
            "| compression | gateways | target | connected (gateway side) "
            "| booted (swarm, may lag) | s to connect all "
            "| gateway RSS MB (idle) | KB per charger | KB per charger above idle | errors |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in caps:
            out.append(
                f"| {'on' if r['compression'] else 'off'} | {r['gateways']} | "
                f"{r['target']:,} | {r['connected']:,} | {r['booted']:,} | "
                f"{r['seconds_to_boot_all']} | {r['rss_mb']} ({r['baseline_rss_mb']}) | "
                f"{r['rss_per_charger_kb']} | {r['rss_above_idle_per_charger_kb']} | "
                f"{_errors(r['swarm'])} |"
            )
        out.append("")
        storms = [(r["compression"], r["storm"]) for r in caps if "storm" in r]
        if storms:
            out += [
                "**Reconnect storm** (every gateway SIGKILLed with all chargers booted, then "
                "restarted; target: 50,000 re-booted in ≤ 120 s, none lost)",
                "",
                "| chargers held | gateways healthy after s | all reconnected after s "
                "| reconnected | last boot accepted after s | boots accepted (whole run) |",
                "|---|---|---|---|---|---|",
            ]
            for _comp, st in storms:
                done = st["all_reconnected_after_s"]
                out.append(
                    f"| {st['chargers']:,} | {st['gateways_up_after_s']} | "
                    f"{done if done is not None else 'not all (gave up)'} | "
                    f"{st['reconnected']:,} | {st.get('last_boot_accepted_after_s')} | "
                    f"{st.get('boots_accepted_total')} |"
                )
            out.append("")
    if "throughput" in results:
        r = results["throughput"]
        out += [
            "**Frames into Kafka per gateway core** (one gateway; chargers in session sending "
            "MeterValues/TransactionEvent back to back, one CALL outstanding each; frames = CALLs "
            "+ CALLRESULTs; target ≥ 10,000 frames/s per core)",
            "",
            "| chargers | window s | frames/s | gateway cores used | frames per gateway "
            "CPU-second | CALL p99 ms |",
            "|---|---|---|---|---|---|",
            f"| {r['chargers']:,} | {r['window_s']} | {r['frames_per_s']:,} | "
            f"{r['gateway_cores_used']} | {r['frames_per_gateway_core_s']:,} | "
            f"{r['swarm'].get('latency_ms', {}).get('p99')} |",
            "",
        ]
    if "commands" in results:
        out += [
            "**Operator commands** (API → Redis → gateway → charger → back: synchronous "
            "`POST /api/v1/stations/{id}/commands/…`, a mix of clear-cache / trigger-message / "
            "get-configuration at a fixed rate; one API process, one gateway; target: 1,000 "
            "commands/s across 1,000 chargers)",
            "",
            "| chargers | offered/s | answered/s | p50 / p95 / p99 ms | statuses |",
            "|---|---|---|---|---|",
        ]
        for r in results["commands"].get("runs", []):
            lat = r.get("latency_ms", {})
            out.append(
                f"| {r.get('stations')} | {r.get('target_rate')} | {r.get('achieved_rate')} | "
                f"{lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} | {r.get('statuses')} |"
            )
        out.append("")
    if "processors" in results:
        out += _processors(results["processors"])
    raw = json.dumps(results, indent=1, default=str)
    out += ["<details><summary>raw results (JSON)</summary>", "", "```json", raw, "```"]
    out += ["", "</details>"]
    return "\n".join(out)


def _processors(r: dict[str, Any]) -> list[str]:
    """Issue 18's table: one processor process, the gateway benchmark's rate (2,572 frames/s)."""

    def fig(name: str, text: str) -> str:
        got = r.get(name) or {}
        return f"failed ({got['failed']})" if "failed" in got else text.format(**got)

    rows = {
        "fold": fig(
            "fold",
            "{frames_per_s:,} frames/s, {cpu_us_per_frame} µs of worker CPU per frame "
            "({frames:,}-frame backlog)",
        ),
        "lag": fig("lag", "p99 {lag_p99_s} s, max {lag_max_s} s, 0 again {catch_up_s} s after"),
        "bill": fig("bill", "p50 {bill_p50_ms} ms, p99 {bill_p99_ms} ms ({sessions:,} sessions)"),
        "replay": fig("replay", "{frames_per_s:,} frames/s: 10 M in {minutes_10m} min"),
        "sink": fig("sink_meter", "{meter_rows_per_s:,} meter rows/s (10 samples per frame)")
        + "; "
        + fig(
            "sink",
            "realistic mix: {meter_rows_per_s:,} meter rows/s, {rows_per_s:,} rows/s, "
            "{frames_per_s:,} frames/s",
        ),
    }
    names = {
        "fold": "frames/s folded by one processor process, all projections",
        "lag": "lag at the gateway's rate, one processor process",
        "bill": "session end → final bill readable, at that rate",
        "replay": "replay, 2 workers",
        "sink": "analytics sink, real path (Kafka → ClickHouse)",
    }
    out = [
        "**Processors** (issue 18: realistic 1.6 + 2.0.1 mix; each figure by its own benchmark, "
        "see loadtests/bench/processors.py)",
        "",
        "| figure | measured | target |",
        "|---|---|---|",
    ]
    out += [f"| {names[k]} | {rows[k]} | {TARGETS[k]} |" for k in names]
    return [*out, ""]


def write_docs(path: Path, section: str) -> None:
    """Replace what lies between the bench markers (appending them if missing)."""
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}", encoding="utf-8")


def previous_results(path: Path | None, scenarios: str) -> dict[str, Any]:
    """The raw results of the bench section already in `path`, minus those being rerun."""
    if path is None or not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or "```json" not in text.split(BEGIN, 1)[1]:
        return {}
    raw = text.split(BEGIN, 1)[1].split("```json", 1)[1].split("```", 1)[0]
    rerun = {s.strip() for s in scenarios.split(",")}
    rerun |= {"capacity"} if rerun & {"capacity", "storm"} else set()
    rerun |= {"capacity_compressed"} if "compression" in rerun else set()
    old: dict[str, Any] = json.loads(raw)
    return {k: v for k, v in old.items() if k.removesuffix("_failed") not in rerun}
