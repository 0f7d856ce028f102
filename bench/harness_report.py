"""The harness's report: the run's facts (date, commit, machine, versions, command), the table of
every candidate x scenario x connection count, taskql's ratios to the others, and the check
that MongoDB commands per request do not grow with `first`."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
from candidates import CANDIDATES
from measure import Cell, Method, Results
from scenarios import NAMES
from stack import ROOT
from stats import ratio_text, ratios_by_repeat, spread
from tables import table

OTHERS = ("ceiling", "naive", "yoga", "mercurius")
OURS = tuple(candidate.name for candidate in CANDIDATES if candidate.kind == "taskql")
PYTHON_PACKAGES = ("strawberry-graphql", "graphql-core", "uvicorn", "starlette", "pymongo")

# What every report says about the scenarios and peers (bench/scenarios.py, bench/peers/).
NOTES = [
    "hello is `{ me { id name } }`: our schema has no `hello` field; this reads the token "
    "(auth) and one object (the viewer), and every candidate implements it.",
    "list-warm is `{ tasks(first: 50) { edges { node { id title status owner { id name } } } "
    "pageInfo { hasNextPage endCursor } } }`, one page repeated; list-cold the same selection "
    "with `after:` rotating over every page of the cold users; mix: 9 list-warm reads, then one "
    "`updateTask` (title) of that block's user, over users no other scenario reads.",
    "yoga and mercurius serve the seeded user's tasks from memory (a JSON file the harness "
    "exports from the database): compare them on warm scenarios only. The naive peer and "
    "taskql-nocache read MongoDB on every request. Peers read the token's `sub` without "
    "verifying its signature; taskql verifies it and prices and charges every operation.",
    "Node runs one process whatever WORKERS says.",
]


def git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown (no git)"
    try:
        done = subprocess.run(
            [git, "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown (no git)"
    return done.stdout.strip() or "unknown (not a git checkout)"


def machine_text() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:  # noqa: PTH123
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.partition(":")[2].strip()
                    break
    except OSError:
        model = platform.processor() or "?"
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB, "
        f"{platform.system()} {platform.release()}"
    )


@dataclass
class Facts:
    command: str
    method: Method
    data: str
    database: str
    pinning: str
    workers: int
    versions: dict[str, str]
    notes: list[str] = field(default_factory=list)
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    commit: str = field(default_factory=git_commit)
    machine: str = field(default_factory=machine_text)


def python_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PYTHON_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "?"
    return versions


def _by(cells: list[Cell]) -> dict[tuple[str, int, str], list[Cell]]:
    grouped: dict[tuple[str, int, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        grouped[(cell.scenario, cell.connections, cell.candidate)].append(cell)
    return grouped


def _order(grouped: dict[tuple[str, int, str], list[Cell]]) -> list[tuple[str, int, str]]:
    scenario_rank = {name: i for i, name in enumerate(NAMES)}
    candidate_rank = {c.name: i for i, c in enumerate(CANDIDATES)}
    return sorted(
        grouped,
        key=lambda key: (scenario_rank.get(key[0], 99), key[1], candidate_rank.get(key[2], 99)),
    )


def _errors(cells: list[Cell]) -> str:
    kinds = {
        "non-2xx": sum(c.wrk.non_2xx for c in cells),
        "socket": sum(c.wrk.socket_errors for c in cells),
        "timeout": sum(c.wrk.timeouts for c in cells),
        "GraphQL errors": sum(c.wrk.graphql_errors for c in cells),
    }
    found = [f"{kind} {count:,}" for kind, count in kinds.items() if count]
    return ", ".join(found) if found else "0"


def results_table(results: Results) -> list[str]:
    grouped = _by(results.cells)
    rows = []
    for key in _order(grouped):
        cells = grouped[key]
        rps = spread(c.wrk.rps for c in cells)
        p50 = spread(c.wrk.p50_ms for c in cells)
        p99 = spread(c.wrk.p99_ms for c in cells)
        rss = spread(c.rss_bytes / 2**20 for c in cells)
        commands = spread(
            c.db_commands_per_request for c in cells if c.db_commands_per_request is not None
        )
        assert rps is not None
        assert p50 is not None
        assert p99 is not None
        assert rss is not None
        others = max(c.others_cpu for c in cells)
        load = max(c.wrk_cpu for c in cells)
        rows.append(
            [
                key[0],
                str(key[1]),
                key[2],
                rps.text(),
                f"{p50.median:,.1f}",
                f"{p99.median:,.1f}",
                f"{rss.median:,.0f}",
                "-" if commands is None else f"{commands.median:.2f}",
                f"{others:.0%}",
                f"{load:.0%}",
                _errors(cells),
            ]
        )
    header = [
        "scenario",
        "conns",
        "candidate",
        "req/s median (min-max)",
        "p50 ms",
        "p99 ms",
        "RSS MB",
        "db cmds/req",
        "others' CPU",
        "wrk CPU",
        "errors",
    ]
    return table(header, rows)


def ratios_table(results: Results) -> list[str]:
    grouped = _by(results.cells)
    rps: dict[tuple[str, int, str], dict[int, float]] = {
        key: {cell.repeat: cell.wrk.rps for cell in cells} for key, cells in grouped.items()
    }
    rows = []
    for scenario, connections in sorted(
        {(k[0], k[1]) for k in grouped}, key=lambda k: (NAMES.index(k[0]), k[1])
    ):
        # Every taskql variant measured in the scenario gets its row.
        for reference in OURS:
            ours = rps.get((scenario, connections, reference))
            if ours is None:
                continue
            cells = []
            for other in OTHERS:
                theirs = rps.get((scenario, connections, other))
                cells.append("-" if theirs is None else ratio_text(ratios_by_repeat(ours, theirs)))
            if any(cell != "-" for cell in cells):
                rows.append([f"{scenario} ({reference})", str(connections), *cells])
    return table(["scenario (taskql candidate)", "conns", *(f"/ {o}" for o in OTHERS)], rows)


def first_table(found: dict[int, dict[str, float]]) -> list[str]:
    rows = []
    for size, commands in sorted(found.items()):
        detail = ", ".join(f"{name} {count:g}" for name, count in sorted(commands.items()))
        rows.append([f"first: {size}", f"{sum(commands.values()):g}", detail or "none"])
    return table(["list of", "MongoDB commands per request", "by command"], rows)


def first_verdict(found: dict[int, dict[str, float]]) -> str:
    totals = {size: sum(commands.values()) for size, commands in found.items()}
    if len(set(totals.values())) <= 1:
        return "independent of `first`: the same number of commands at every size"
    return "NOT independent of `first`: " + ", ".join(
        f"first={k}: {v:g}" for k, v in totals.items()
    )


def method_text(method: Method, workers: int) -> str:
    return (
        f"wrk, {method.threads} thread(s), closed loop; warm-up {method.warmup} s (unreported), "
        f"measured {method.duration} s, {method.repeats} repeat(s) interleaved (round-robin over "
        f"candidates, the order rotating each repeat; only the measured candidate's server runs, "
        f"the stores keep running); list scenarios at {', '.join(map(str, method.connections))} "
        f"connections, the others at {method.connections[0]}; wrk timeout {method.timeout} s; "
        f"Python servers with WORKERS={workers}"
    )


def report(
    facts: Facts, results: Results, first: dict[int, dict[str, float]] | None, *, about: list[str]
) -> str:
    lines = [
        "# taskql side by side (bench/harness.py)",
        "",
        f"- date: {facts.date}",
        f"- commit: {facts.commit}",
        f"- command: `{facts.command}`",
        f"- machine: {facts.machine}",
        f"- pinning: {facts.pinning}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in facts.versions.items()),
        f"- database: {facts.database}; data: {facts.data}",
        f"- method: {method_text(facts.method, facts.workers)}",
        "",
        "## Throughput, latency, memory",
        "",
        "Medians over repeats (req/s with min-max); p50/p99 from wrk; RSS: the peak of the",
        "candidate's process tree while measured; db cmds/req: taskql's",
        '`taskql_db_commands_total{source="request"}` growth over the requests it executed;',
        "others' CPU: the most, over repeats, of the machine's CPU taken by processes outside the",
        "benchmark while measured (other test suites, steal): high values mean noisy figures;",
        "wrk CPU: the most of one CPU the load generator used (near 100%: wrk was the limit);",
        "errors: summed over repeats (wrk's non-2xx, socket errors and timeouts; answers carrying",
        "GraphQL `errors`).",
        "",
        *results_table(results),
        "",
        "## taskql's throughput over the others'",
        "",
        "req/s of the taskql candidate / req/s of the other, taken within each repeat; median",
        "(min-max). Above 1: taskql is faster. `list-cold` compares taskql-nocache.",
        "",
        *ratios_table(results),
        "",
    ]
    if first is not None:
        lines += [
            "## MongoDB commands per request vs. `first` (taskql-nocache)",
            "",
            *first_table(first),
            "",
            f"Verdict: {first_verdict(first)}.",
            "",
        ]
    if results.refused or results.problems:
        lines += ["## Refused and problems", ""]
        lines += [f"- {c} x {s}: refused: {why}" for (c, s), why in results.refused.items()]
        lines += [f"- {problem}" for problem in results.problems]
        lines.append("")
    lines += ["## Candidates and notes", "", *[f"- {line}" for line in about]]
    lines += [f"- {note}" for note in facts.notes]
    return "\n".join(lines) + "\n"
