"""taskql side by side with a ceiling, a naive Strawberry server, GraphQL Yoga and Mercurius
(README, Benchmarks), and the object cache's worth (`make bench-cache`: bench/cache.py).

    .venv/bin/python bench/harness.py [--quick] [--candidates taskql,ceiling] [--duration 15] ...

`server.py services` (embedded SecantusDB and Redis unless MONGODB_URL/REDIS_URL are set),
`server.py seed --reset` into a bench database, then taskql signs in seeded users and gives the
reference answers; cost tiers are raised so that cost limiting is paid for but never refuses.
wrk (apt-get when missing) runs on one CPU, the whole server side on the other (taskset). The
candidates (bench/candidates.py; the Node peers after `npm ci` in bench/peers, skipped without
Node) run one at a time, each checked against taskql's answers first (refused if it disagrees),
in every repeat, the order rotating; medians (min-max) and taskql's ratios to the others are
written to --output. Exits 1 when a candidate was refused or a check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import tempfile
from importlib.metadata import version
from pathlib import Path

import httpx
from cache import SingleRead, section, single_requests
from candidates import (
    REFERENCE,
    LaunchContext,
    ensure_node_peers,
    export_users,
    launch_command,
    node_versions,
    select,
)
from common import RESULTS, facts, parser, positive, progress, run, write_report
from measure import Measurer, Method
from report import NOTES, method_text, report, results_table
from scenarios import DEFAULT_NAMES, NAMES
from stack import Stack, choose_pinning, redis_version
from workload import Builder, Workload
from wrk import ensure_wrk, write_requests, wrk_version

DATABASE = "taskql_bench_harness"
# Cost limiting is measured, never in the way: a budget no benchmark can exhaust.
RAISED_TIER = {"capacity": 10_000_000, "restore_rate": 1_000_000, "max_query": 5_000}
FULL = {"warmup": 3, "duration": 10, "repeats": 3, "users": 200}
QUICK = {"warmup": 1, "duration": 3, "repeats": 1, "users": 40}
PYTHON_PACKAGES = ("strawberry-graphql", "graphql-core", "uvicorn", "starlette", "pymongo")


def parse_arguments() -> argparse.Namespace:
    options, number = parser(__doc__, None), positive(int)
    add = options.add_argument
    add("--quick", action="store_true", help="smoke run: " + json.dumps(QUICK))
    add("--warmup", type=number, help=f"seconds (default {FULL['warmup']})")
    add("--duration", type=number, help=f"seconds (default {FULL['duration']})")
    add("--repeats", type=number, help=f"default {FULL['repeats']}")
    add("--users", type=number, help=f"seeded users (default {FULL['users']})")
    add("--tasks-per-user", type=number, default=250, help="seeded tasks each")
    add("--connections", default="10,50", help="list scenarios' (the others': the first)")
    add("--timeout", type=number, default=30, help="wrk's timeout, seconds")
    add("--workers", type=number, default=1, help="Python servers' WORKERS")
    add("--mix-users", type=number, default=10, help="users of the mix scenario")
    add("--cold-users", type=number, default=1000, help="list-cold's and cache-*'s, at most")
    add("--candidates", help="comma-separated (default: all)")
    add("--scenarios", default=",".join(DEFAULT_NAMES), help=f"comma-separated, of {NAMES}")
    add("--no-pin", action="store_true", help="no taskset")
    add("--redis-cluster", action="store_true", help="an embedded 3-master Redis Cluster")
    arguments = options.parse_args()
    for name, value in (QUICK if arguments.quick else FULL).items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    if arguments.output is None:
        arguments.output = RESULTS / ("harness-quick.tmp" if arguments.quick else "harness.md")
    try:
        arguments.connections = tuple(int(c) for c in arguments.connections.split(","))
        arguments.candidate_list = select(arguments.candidates)
    except ValueError as error:
        options.error(str(error))
    arguments.scenario_list = [s.strip() for s in arguments.scenarios.split(",")]
    if unknown := set(arguments.scenario_list) - set(NAMES):
        options.error(f"unknown scenarios {sorted(unknown)}")
    if arguments.tasks_per_user < 100:
        options.error("--tasks-per-user must be at least 100 (two pages of 50)")
    arguments.mix_users *= "mix" in arguments.scenario_list
    cold = min(arguments.users - arguments.mix_users - 1, arguments.cold_users)
    if cold < 1:
        options.error("--users must leave one warm user, the mix users and one cold user")
    if "cache-cold" in arguments.scenario_list and cold < arguments.connections[0]:
        options.error("cache-cold needs a cold user per connection (--users, --cold-users)")
    return arguments


class Harness:
    def __init__(self, arguments: argparse.Namespace, temp: Path) -> None:
        self.arguments, self.temp = arguments, temp
        self.pinning = choose_pinning(enabled=not arguments.no_pin)
        self.stack = Stack(pin=self.pinning.server)
        self.notes: list[str] = []
        chosen = arguments.candidate_list
        if any(c.kind == "node" for c in chosen) and (reason := ensure_node_peers()):
            progress(f"skipping yoga and mercurius: {reason}")
            self.notes.append(f"yoga and mercurius were skipped: {reason}")
            chosen = [c for c in chosen if c.kind != "node"]
        self.candidates = [c for c in chosen if set(arguments.scenario_list) & set(c.scenarios)]

    def prepare(self) -> tuple[LaunchContext, Workload]:
        """Signs in, builds every scenario, keeps taskql's answers; files for the peers."""
        arguments = self.arguments
        taskql_env = {
            "MONGODB_DB": DATABASE,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "JWT_ACCESS_TTL": str(24 * 3600),  # no token expires during a run
            # anonymous too: the setup signs in hundreds of users from one address.
            "TASKQL_COST_TIERS": json.dumps({"user": RAISED_TIER, "anonymous": RAISED_TIER}),
        }
        launch = LaunchContext(
            self.stack.store_env(),
            taskql_env,
            DATABASE,
            arguments.workers,
            ceiling_answers=self.temp / "ceiling-answers.json",
            peer_data=self.temp / "peer-data.json",
        )
        running = self.stack.start("taskql (reference)", *launch_command(REFERENCE, launch))
        try:
            with httpx.Client(timeout=60.0) as http:
                progress("signing in users, collecting taskql's answers...")
                workload = Builder(http, running.base_url).build(
                    users=arguments.users,
                    mix_users=arguments.mix_users,
                    cold_users=arguments.cold_users,
                    wanted=arguments.scenario_list,
                )
        finally:
            self.stack.stop(running)
        answers = [
            {"body": call.body.decode(), "answer": answer.body.decode()}
            | {"status": answer.status, "content_type": answer.content_type}
            for name in ("hello", "list-warm")
            for call in workload.scenarios[name].calls
            if (answer := workload.references[call])
        ]
        launch.ceiling_answers.write_text(json.dumps(answers), encoding="utf-8")
        if any(c.kind == "node" for c in self.candidates):
            export_users(
                mongodb_url=self.stack.mongodb_url,
                database=DATABASE,
                user_id=workload.warm_user.user_id,
                path=launch.peer_data,
            )
        return launch, workload

    def run(self) -> int:
        arguments = self.arguments
        progress(f"pinning: {self.pinning.note}")
        if self.pinning.load_cpu is not None:
            # This process waits for wrk, samples memory, drives cache-cold: off the server's CPU.
            os.sched_setaffinity(0, {self.pinning.load_cpu})
        progress("starting `server.py services`...")
        self.stack.start_services(redis_cluster=arguments.redis_cluster)
        progress(f"seeding {arguments.users} users x {arguments.tasks_per_user} tasks...")
        self.stack.seed(
            database=DATABASE, users=arguments.users, tasks_per_user=arguments.tasks_per_user
        )
        launch, workload = self.prepare()
        files = {name: self.temp / f"{name}.requests" for name in workload.scenarios}
        for name, scenario in workload.scenarios.items():
            write_requests(files[name], [(c.authorization, c.body) for c in scenario.calls])
        names = ("warmup", "duration", "repeats", "connections", "timeout")
        method = Method(**{name: getattr(arguments, name) for name in names})
        measurer = Measurer(method, self.stack, self.pinning, workload, launch, files)
        try:
            first, reads = self.measure(measurer)
        finally:
            measurer.close()
        results = measurer.results
        cache_lines, cache_problems = section(results.cells, reads)
        results.problems += cache_problems
        about = [f"{c.name}: {c.about}" for c in self.candidates] + NOTES + self.notes
        header = self.facts(method, workload)
        write_report(arguments.output, report(header, results, first, cache_lines, about))
        print("\n".join([*results_table(results), "", *cache_lines]))
        return 1 if results.refused or results.problems else 0

    def measure(
        self, measurer: Measurer
    ) -> tuple[dict[int, dict[str, float]] | None, list[SingleRead]]:
        """The probes of one request each, then every repeat: candidates in turn, rotating."""
        candidates, workload = self.candidates, measurer.workload
        by_name = {c.name: c for c in candidates}
        first, reads = None, []
        if "taskql-nocache" in by_name:
            progress("MongoDB commands per request at first=10 and first=50 (taskql-nocache)...")
            token = workload.cold_users[0].token
            first = measurer.commands_by_first(by_name["taskql-nocache"], token)
        if "cache-read" in workload.scenarios:
            progress("one request's MongoDB commands and cache lookups...")
            call = workload.scenarios["cache-read"].calls[0]
            reads = single_requests(measurer, by_name, call)
        for repeat in range(1, measurer.method.repeats + 1):
            shift = (repeat - 1) % len(candidates)
            progress(f"repeat {repeat} of {measurer.method.repeats}")
            for candidate in candidates[shift:] + candidates[:shift]:
                wanted = set(candidate.scenarios) & set(self.arguments.scenario_list)
                scenarios = [s for name, s in workload.scenarios.items() if name in wanted]
                measurer.run_candidate(candidate, scenarios, repeat)
        return first, reads

    def facts(self, method: Method, workload: Workload) -> dict[str, str]:
        arguments = self.arguments
        versions = {"python": platform.python_version()}
        versions |= {package: version(package) for package in PYTHON_PACKAGES}
        versions |= node_versions() if any(c.kind == "node" for c in self.candidates) else {}
        versions["wrk"] = wrk_version()
        versions["redis"] = asyncio.run(redis_version(self.stack.redis_url)).split()[-1]
        data = f"{arguments.users} users x {arguments.tasks_per_user} tasks seeded"
        if cold := workload.scenarios.get("list-cold"):
            data += f"; list-cold rotates over {len(cold.calls)} pages"
            data += f" of {len(workload.cold_users)} users"
        database = self.stack.mongodb_kind
        if not os.environ.get("MONGODB_URL"):
            database += " (not a real mongod: slow per command)"
        return facts(
            pinning=self.pinning.note,
            versions=", ".join(f"{k} {v}" for k, v in versions.items()),
            database=f"{database}; data: {data}",
            method=method_text(method, arguments.workers),
        )


def main() -> int:
    arguments = parse_arguments()
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="taskql-harness-") as temp:
        harness = Harness(arguments, Path(temp))
        try:
            return harness.run()
        finally:
            progress("stopping servers and services...")
            harness.stack.close()


if __name__ == "__main__":
    run(main)
