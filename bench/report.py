"""The harness's report: the run's facts, the table of every candidate x scenario x connection
count, taskql's ratios to the others, MongoDB commands per request at two sizes of `first`,
and (cache scenarios) the object cache's section from bench/cache.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from statistics import median

from candidates import CANDIDATES
from common import table
from measure import Cell, Method, Results
from scenarios import NAMES
from stats import ratio_text, ratios_by_repeat, spread

OTHERS = ("ceiling", "naive", "yoga", "mercurius")
OURS = tuple(candidate.name for candidate in CANDIDATES if candidate.kind == "taskql")

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
HEADER = ["scenario", "conns", "candidate", "req/s median (min-max)", "p50 ms", "p99 ms"]
HEADER += ["RSS MB", "db cmds/req", "others' CPU", "wrk CPU", "errors"]


def _by(cells: list[Cell]) -> dict[tuple[str, int, str], list[Cell]]:
    grouped: dict[tuple[str, int, str], list[Cell]] = defaultdict(list)
    rank = {c.name: i for i, c in enumerate(CANDIDATES)}
    for cell in sorted(
        cells, key=lambda c: (NAMES.index(c.scenario), c.connections, rank[c.candidate])
    ):
        grouped[(cell.scenario, cell.connections, cell.candidate)].append(cell)
    return grouped


def _errors(cells: list[Cell]) -> str:
    kinds = {
        "non-2xx": sum(c.wrk.non_2xx for c in cells),
        "socket": sum(c.wrk.socket_errors for c in cells),
        "timeout": sum(c.wrk.timeouts for c in cells),
        "GraphQL errors": sum(c.wrk.graphql_errors for c in cells),
        "other answers": sum(c.wrk.wrong for c in cells),
    }
    return ", ".join(f"{kind} {count:,}" for kind, count in kinds.items() if count) or "0"


def results_table(results: Results) -> list[str]:
    rows = []
    for (scenario, connections, candidate), cells in _by(results.cells).items():
        rps = spread(c.wrk.rps for c in cells)
        assert rps is not None
        commands = [c.db_commands_per_request for c in cells]
        found = [count for count in commands if count is not None]
        rows.append(
            [
                scenario,
                str(connections),
                candidate,
                rps.text(),
                f"{median(c.wrk.p50_ms for c in cells):,.1f}",
                f"{median(c.wrk.p99_ms for c in cells):,.1f}",
                f"{median(c.rss_bytes / 2**20 for c in cells):,.0f}",
                f"{median(found):.2f}" if found else "-",
                f"{max(c.cpu.others for c in cells):.0%}",
                f"{max(c.wrk_cpu for c in cells):.0%}",
                _errors(cells),
            ]
        )
    return table(HEADER, rows)


def ratios_table(results: Results) -> list[str]:
    grouped = _by(results.cells)
    rps = {key: {cell.repeat: cell.wrk.rps for cell in cells} for key, cells in grouped.items()}
    rows = []
    for scenario, connections in dict.fromkeys((k[0], k[1]) for k in grouped):
        for reference in OURS:  # every taskql variant measured in the scenario gets its row
            if (ours := rps.get((scenario, connections, reference))) is None:
                continue
            cells = [
                "-" if theirs is None else ratio_text(ratios_by_repeat(ours, theirs))
                for theirs in (rps.get((scenario, connections, other)) for other in OTHERS)
            ]
            if any(cell != "-" for cell in cells):
                rows.append([f"{scenario} ({reference})", str(connections), *cells])
    return table(["scenario (taskql candidate)", "conns", *(f"/ {o}" for o in OTHERS)], rows)


def first_lines(found: dict[int, dict[str, float]]) -> list[str]:
    rows = []
    for size, commands in sorted(found.items()):
        detail = ", ".join(f"{name} {count:g}" for name, count in sorted(commands.items()))
        rows.append([f"first: {size}", f"{sum(commands.values()):g}", detail or "none"])
    totals = {size: sum(commands.values()) for size, commands in found.items()}
    if len(set(totals.values())) <= 1:
        verdict = "independent of `first`: the same number of commands at every size"
    else:
        verdict = "NOT independent of `first`: " + ", ".join(
            f"first={k}: {v:g}" for k, v in totals.items()
        )
    return [
        "## MongoDB commands per request vs. `first` (taskql-nocache)",
        "",
        *table(["list of", "MongoDB commands per request", "by command"], rows),
        "",
        f"Verdict: {verdict}.",
    ]


def method_text(method: Method, workers: int) -> str:
    return (
        f"wrk, 1 thread(s), closed loop; warm-up {method.warmup} s (unreported), "
        f"measured {method.duration} s, {method.repeats} repeat(s) interleaved (round-robin over "
        f"candidates, the order rotating each repeat; only the measured candidate's server runs, "
        f"the stores keep running); list scenarios at {', '.join(map(str, method.connections))} "
        f"connections, the others at {method.connections[0]}; wrk timeout {method.timeout} s; "
        f"Python servers with WORKERS={workers}"
    )


def report(
    facts: Mapping[str, str],
    results: Results,
    first: dict[int, dict[str, float]] | None,
    extra: list[str],
    about: list[str],
) -> str:
    lines = [
        "# taskql side by side (bench/harness.py)",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
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
        "GraphQL `errors`; cache-cold's load generator also checks every answer's data).",
        "",
        *results_table(results),
        "",
        "## taskql's throughput over the others'",
        "",
        "req/s of the taskql candidate / req/s of the other, taken within each repeat; median",
        "(min-max). Above 1: taskql is faster. `list-cold` compares taskql-nocache.",
        "",
        *ratios_table(results),
        *(["", *first_lines(first)] if first is not None else []),
        *(["", *extra] if extra else []),
    ]
    if results.refused or results.problems:
        lines += ["", "## Refused and problems", ""]
        lines += [f"- {c} x {s}: refused: {why}" for (c, s), why in results.refused.items()]
        lines += [f"- {problem}" for problem in results.problems]
    lines += ["", "## Candidates and notes", "", *(f"- {line}" for line in about)]
    return "\n".join(lines) + "\n"
