"""The cache benchmark's figures and their text: tables for the terminal, Markdown and JSON."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadgen import LoadResult

SCENARIOS = ("warm", "cold", "disabled")
# Ratios of requests per second, each taken within one round, then the median over rounds.
RATIOS = (("warm", "cold"), ("warm", "disabled"), ("cold", "disabled"))
CPU_PARTS = ("app", "mongodb", "redis", "client")
NOISY = 0.10  # the share of the CPUs other processes took, above which figures are suspect


@dataclass(frozen=True)
class SingleRead:
    """What one request cost: MongoDB commands by name, cache lookups by result."""

    case: str
    commands: dict[str, float]
    lookups: dict[str, float]


@dataclass
class ScenarioRun:
    scenario: str
    round: int
    load: LoadResult
    commands: dict[str, float] = field(default_factory=dict)
    lookups: dict[str, float] = field(default_factory=dict)
    queries_ok: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # seconds, per CPU_PARTS
    busy: float = 0.0  # the machine's CPUs, busy fraction over the run
    others: float = 0.0  # the part of `busy` that processes outside the benchmark took
    problems: list[str] = field(default_factory=list)

    def per_request(self, value: float) -> float:
        return value / self.load.requests if self.load.requests else float("nan")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(" | ".join(cells))
        if number == 0:
            lines.append("-+-".join("-" * width for width in widths))
    return lines


def _number(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def commands_lines(reads: Sequence[SingleRead]) -> list[str]:
    names = sorted({name for read in reads for name in read.commands})
    rows = [["one request", *names, "total", "cache hit", "cache miss"]]
    for read in reads:
        counts = [_number(read.commands.get(name, 0.0)) for name in names]
        total = _number(sum(read.commands.values()))
        hits, misses = (_number(read.lookups.get(result, 0.0)) for result in ("hit", "miss"))
        rows.append([read.case, *counts, total, hits, misses])
    return _table(rows)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float], digits: int = 0) -> str:
    return f"{_median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def throughput_lines(runs: Sequence[ScenarioRun]) -> list[str]:
    header = ["scenario", "req/s median (min-max)", "p50 ms", "p99 ms", "db cmds/req"]
    header += [
        "cache miss/req",
        "cpu ms/req app+mongo+redis+client",
        "cpus busy (others)",
        "failed",
    ]
    rows = [header]
    for scenario in SCENARIOS:
        mine = [run for run in runs if run.scenario == scenario]
        if not mine:
            continue
        cpu = [
            _median([1000 * run.per_request(run.cpu[part]) for run in mine]) for part in CPU_PARTS
        ]
        rows.append(
            [
                scenario,
                _spread([run.load.rps for run in mine]),
                f"{_median([1000 * run.load.percentile(0.50) for run in mine]):.1f}",
                f"{_median([1000 * run.load.percentile(0.99) for run in mine]):.1f}",
                f"{_median([run.per_request(sum(run.commands.values())) for run in mine]):.2f}",
                f"{_median([run.per_request(run.lookups.get('miss', 0.0)) for run in mine]):.2f}",
                " + ".join(f"{part:.1f}" for part in cpu),
                f"{100 * _median([run.busy for run in mine]):.0f}%"
                f" ({100 * max(run.others for run in mine):.0f}%)",
                str(sum(run.load.failures for run in mine)),
            ]
        )
    return _table(rows)


def round_ratios(runs: Sequence[ScenarioRun]) -> dict[str, list[float]]:
    """Each ratio of requests per second, once per round (both sides from the same round)."""
    rps = {(run.scenario, run.round): run.load.rps for run in runs}
    rounds = sorted({run.round for run in runs})
    ratios: dict[str, list[float]] = {}
    for top, bottom in RATIOS:
        ratios[f"{top}/{bottom}"] = [
            rps[(top, r)] / rps[(bottom, r)]
            for r in rounds
            if (top, r) in rps and rps.get((bottom, r))
        ]
    return ratios


def ratio_lines(runs: Sequence[ScenarioRun]) -> list[str]:
    lines = []
    for name, values in round_ratios(runs).items():
        if values:
            each = ", ".join(f"{value:.2f}" for value in values)
            lines.append(f"{name:<14} {_median(values):.2f}x  (per round: {each})")
    return lines


def problem_lines(runs: Sequence[ScenarioRun]) -> list[str]:
    return [
        f"round {run.round} {run.scenario}: {problem}" for run in runs for problem in run.problems
    ]


def as_json(
    *, context: dict[str, Any], reads: Sequence[SingleRead], runs: Sequence[ScenarioRun]
) -> dict[str, Any]:
    return {
        "context": context,
        "single_requests": [
            {"case": read.case, "commands": read.commands, "cache_lookups": read.lookups}
            for read in reads
        ],
        "runs": [
            {
                "scenario": run.scenario,
                "round": run.round,
                "requests": run.load.requests,
                "failures": run.load.failures,
                "seconds": run.load.seconds,
                "rps": run.load.rps,
                "p50_ms": 1000 * run.load.percentile(0.50),
                "p99_ms": 1000 * run.load.percentile(0.99),
                "db_commands": run.commands,
                "cache_lookups": run.lookups,
                "cpu_seconds": run.cpu,
                "cpus_busy": run.busy,
                "cpus_busy_others": run.others,
                "problems": run.problems,
            }
            for run in runs
        ],
        "ratios": round_ratios(runs),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command(arguments: argparse.Namespace) -> str:
    options = ["--users", "--tasks-per-user", "--connections", "--duration", "--rounds"]
    options += ["--warmup", "--client"]
    words = [".venv/bin/python", "bench/cache.py"]
    for option in options:
        words += [option, str(getattr(arguments, option[2:].replace("-", "_")))]
    return shlex.join(words)


def run_context(arguments: argparse.Namespace, *, mongodb: str, redis: str) -> dict[str, Any]:
    return {
        "command": _command(arguments),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "mongodb": mongodb,
        "redis": f"redis-server {redis}",
        "client": f"{arguments.client} on uvloop, {arguments.connections} connections",
        "data": f"{arguments.users} users x {arguments.tasks_per_user} tasks",
    }


def report(context: dict[str, Any], reads: list[SingleRead], runs: list[ScenarioRun]) -> str:
    lines = [f"{key}: {value}" for key, value in context.items()]
    lines += ["", "MongoDB commands for one request (the page of 50 with owners and counts):"]
    lines += commands_lines(reads)
    rounds = max(run.round for run in runs)
    lines += ["", f"Throughput, {rounds} rounds (median over rounds; cpu: ms per request):"]
    lines += throughput_lines(runs)
    lines += [
        "warm: the cache-on server; cold: the same, each request's cache entries retired first"
        " (a new owner generation, the user entry deleted); disabled: the TASKQL_CACHE=0 server.",
        "p50/p99: medians over rounds. cpu: the app server, the MongoDB and Redis processes,"
        " this load generator. cpus busy: the whole machine; (others): processes outside the"
        " benchmark, the most in any round.",
    ]
    noise = max(run.others for run in runs)
    if noise > NOISY:
        lines.append(f"NOISY: other processes took up to {100 * noise:.0f}% of the CPUs in a run")
    lines += ["", "Requests per second, ratio within each round:", *ratio_lines(runs)]
    problems = problem_lines(runs)
    lines += ["", "Checks: " + ("all passed" if not problems else "FAILED"), *problems]
    return "\n".join(lines)
