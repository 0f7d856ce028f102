"""taskql side by side with a ceiling, a naive Strawberry server, GraphQL Yoga and Mercurius.

    .venv/bin/python bench/harness.py [--quick] [--candidates taskql,ceiling] [--duration 15] ...

Setup: wrk (apt-get when missing) and the Node peers' packages (`npm ci` in bench/peers; the
Node peers are skipped, saying why, without node/npm). `server.py services` (MongoDB and
Redis; embedded SecantusDB unless MONGODB_URL is set), `server.py seed --reset` into a bench
database, then taskql with everything on signs in seeded users, collects cursors and gives the
reference answers (and the bytes the ceiling replays). The `user` and `anonymous` cost tiers
are raised (TASKQL_COST_TIERS) so that cost limiting is paid for but never refuses.

Pinning: wrk runs on one CPU (`taskset -c`), the whole server side (app, Redis, MongoDB) on
the other. Candidates (bench/candidates.py) run one at a time; scenarios (bench/scenarios.py):
hello, list-warm, list-cold (database candidates only), mix (taskql only). Every candidate's
answers are checked against taskql's `data` before it is timed; one that disagrees is refused.
Each repeat runs every candidate once (the order rotating); medians and min-max are reported,
with taskql's ratios to the others, and written to bench/results/harness.md (a --quick run:
bench/results/harness-quick.tmp, ignored by git). Exits 1 when a candidate was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import httpx
from candidates import CANDIDATES, REFERENCE, Candidate, LaunchContext, launch_command, select
from cli import HelpFormatter, positive
from harness_report import NOTES, Facts, python_versions, report, results_table
from measure import Measurer, Method, progress
from node_peers import ensure_node_peers, node_versions
from peer_data import export_users
from procs import PinnedStack, Pinning, choose_pinning
from scenarios import NAMES
from stack import ROOT
from workload import Builder, UserSplit, Workload
from wrk import ensure_wrk, write_requests, wrk_version

DATABASE = "taskql_bench_harness"
RESULTS = ROOT / "bench" / "results" / "harness.md"
QUICK_RESULTS = ROOT / "bench" / "results" / "harness-quick.tmp"
# Cost limiting is measured, never in the way: a budget no benchmark can exhaust.
RAISED_TIER = {"capacity": 10_000_000, "restore_rate": 1_000_000, "max_query": 5_000}
FULL = {"warmup": 3, "duration": 10, "repeats": 3, "users": 200}
QUICK = {"warmup": 1, "duration": 3, "repeats": 1, "users": 40}
WARM_SCENARIOS = ("hello", "list-warm")


class _HelpFormatter(HelpFormatter):
    """Options whose default depends on --quick say so in their help, not as `None`."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    number = positive(int)
    parser.add_argument("--quick", action="store_true", help="smoke run: " + json.dumps(QUICK))
    parser.add_argument("--warmup", type=number, help=f"seconds (default {FULL['warmup']})")
    parser.add_argument("--duration", type=number, help=f"seconds (default {FULL['duration']})")
    parser.add_argument("--repeats", type=number, help=f"default {FULL['repeats']}")
    parser.add_argument("--users", type=number, help=f"seeded users (default {FULL['users']})")
    parser.add_argument("--tasks-per-user", type=number, default=250, help="seeded tasks each")
    parser.add_argument(
        "--connections", default="10,50", help="list scenarios' connection counts (others: first)"
    )
    parser.add_argument("--threads", type=number, default=1, help="wrk threads")
    parser.add_argument("--timeout", type=number, default=30, help="wrk's timeout, seconds")
    parser.add_argument("--workers", type=number, default=1, help="Python servers' WORKERS")
    parser.add_argument("--mix-users", type=number, default=10, help="users of the mix scenario")
    parser.add_argument(
        "--cold-users", type=number, default=1000, help="list-cold's users, at most"
    )
    parser.add_argument("--check-sample", type=number, default=10, help="list-cold calls checked")
    parser.add_argument("--candidates", help="comma-separated (default: all)")
    parser.add_argument("--scenarios", help=f"comma-separated of {', '.join(NAMES)} (default: all)")
    parser.add_argument("--no-pin", action="store_true", help="no taskset")
    parser.add_argument("--output", type=Path, help="report file (default: see the description)")
    arguments = parser.parse_args()
    preset = QUICK if arguments.quick else FULL
    for name, value in preset.items():
        if getattr(arguments, name) is None:
            setattr(arguments, name, value)
    if arguments.output is None:
        arguments.output = QUICK_RESULTS if arguments.quick else RESULTS
    try:
        arguments.connections = tuple(int(c) for c in arguments.connections.split(","))
        arguments.candidate_list = select(arguments.candidates)
    except ValueError as error:
        parser.error(str(error))
    arguments.scenario_list = [
        s.strip() for s in (arguments.scenarios or ",".join(NAMES)).split(",")
    ]
    if unknown := set(arguments.scenario_list) - set(NAMES):
        parser.error(f"unknown scenarios {sorted(unknown)}")
    if arguments.tasks_per_user < 100:
        parser.error("--tasks-per-user must be at least 100 (two pages of 50)")
    if arguments.users < arguments.mix_users + 2:
        parser.error("--users must leave one warm user, the mix users and one cold user")
    return arguments


class Harness:
    def __init__(self, arguments: argparse.Namespace, pinning: Pinning, temp: Path) -> None:
        self.arguments, self.pinning, self.temp = arguments, pinning, temp
        self.stack = PinnedStack(pin=pinning.server)
        self.notes: list[str] = []

    def candidates(self) -> list[Candidate]:
        chosen: list[Candidate] = self.arguments.candidate_list
        if any(c.kind == "node" for c in chosen) and (reason := ensure_node_peers()):
            progress(f"skipping yoga and mercurius: {reason}")
            self.notes.append(f"yoga and mercurius were skipped: {reason}")
            chosen = [c for c in chosen if c.kind != "node"]
        wanted = set(self.arguments.scenario_list)
        return [c for c in chosen if wanted & set(c.scenarios)]

    def launch_context(self) -> LaunchContext:
        taskql_env = {
            "MONGODB_DB": DATABASE,
            "JWT_SECRET": secrets.token_urlsafe(48),
            "JWT_ACCESS_TTL": str(24 * 3600),  # no token expires during a run
            # anonymous too: the setup signs in hundreds of users from one address.
            "TASKQL_COST_TIERS": json.dumps({"user": RAISED_TIER, "anonymous": RAISED_TIER}),
        }
        return LaunchContext(
            store_env=self.stack.store_env(),
            taskql_env=taskql_env,
            database=DATABASE,
            workers=self.arguments.workers,
            ceiling_answers=self.temp / "ceiling-answers.json",
            peer_data=self.temp / "peer-data.json",
        )

    def prepare(self, launch: LaunchContext) -> Workload:
        """Signs in, builds every scenario, keeps taskql's answers; files for the peers."""
        arguments = self.arguments
        split = UserSplit.of(
            users=arguments.users,
            mix_users=arguments.mix_users if "mix" in arguments.scenario_list else 0,
            cold_users=arguments.cold_users,
        )
        reference = next(c for c in CANDIDATES if c.name == REFERENCE)
        argv, env = launch_command(reference, launch)
        running = self.stack.start("taskql (reference)", argv, env)
        try:
            with httpx.Client(timeout=60.0) as http:
                progress(
                    f"signing in {1 + len(split.mix) + len(split.cold)} users, collecting pages..."
                )
                workload = Builder(http, running.base_url).build(
                    split, check_sample=arguments.check_sample
                )
        finally:
            self.stack.stop(running)
        warm_calls = [c for name in WARM_SCENARIOS for c in workload.scenarios[name].calls]
        answers = [
            {
                "body": call.body.decode(),
                "status": workload.references[call].status,
                "content_type": workload.references[call].content_type,
                "answer": workload.references[call].body.decode(),
            }
            for call in warm_calls
        ]
        launch.ceiling_answers.write_text(json.dumps(answers), encoding="utf-8")
        export_users(
            mongodb_url=self.stack.mongodb_url,
            database=DATABASE,
            user_ids=[workload.warm_user.user_id],
            path=launch.peer_data,
        )
        return workload

    def request_files(self, workload: Workload) -> dict[str, Path]:
        files = {}
        for name, scenario in workload.scenarios.items():
            files[name] = self.temp / f"{name}.requests"
            write_requests(files[name], [(c.authorization, c.body) for c in scenario.calls])
        return files

    def run(self) -> int:
        arguments = self.arguments
        candidates = self.candidates()
        progress("starting `server.py services`...")
        self.stack.start_services()
        progress(f"seeding {arguments.users} users x {arguments.tasks_per_user} tasks...")
        self.stack.seed(
            database=DATABASE, users=arguments.users, tasks_per_user=arguments.tasks_per_user
        )
        launch = self.launch_context()
        workload = self.prepare(launch)
        method = Method(
            warmup=arguments.warmup,
            duration=arguments.duration,
            repeats=arguments.repeats,
            connections=arguments.connections,
            threads=arguments.threads,
            timeout=arguments.timeout,
        )
        measurer = Measurer(
            method,
            stack=self.stack,
            pinning=self.pinning,
            workload=workload,
            launch=launch,
            request_files=self.request_files(workload),
        )
        try:
            first = self._first_check(measurer, candidates, workload)
            for repeat in range(1, method.repeats + 1):
                shift = (repeat - 1) % len(candidates)
                progress(f"repeat {repeat} of {method.repeats}")
                for candidate in candidates[shift:] + candidates[:shift]:
                    scenarios = [
                        workload.scenarios[name]
                        for name in candidate.scenarios
                        if name in arguments.scenario_list and name in workload.scenarios
                    ]
                    measurer.run_candidate(candidate, scenarios, repeat)
        finally:
            measurer.close()
        return self._report(measurer, method, candidates, first)

    def _first_check(
        self, measurer: Measurer, candidates: list[Candidate], workload: Workload
    ) -> dict[int, dict[str, float]] | None:
        nocache = next((c for c in candidates if c.name == "taskql-nocache"), None)
        if nocache is None:
            return None
        progress("MongoDB commands per request at first=10 and first=50 (taskql-nocache)...")
        return measurer.commands_by_first(nocache, workload.cold_users[0].token)

    def _report(
        self,
        measurer: Measurer,
        method: Method,
        candidates: list[Candidate],
        first: dict[int, dict[str, float]] | None,
    ) -> int:
        arguments = self.arguments
        versions = python_versions()
        if any(c.kind == "node" for c in candidates):
            versions.update(node_versions())
        versions["wrk"] = wrk_version()
        cold = len(measurer.workload.scenarios["list-cold"].calls)
        facts = Facts(
            command=shlex.join(["python", "bench/harness.py", *sys.argv[1:]]),
            method=method,
            data=(
                f"{arguments.users} users x {arguments.tasks_per_user} tasks seeded; "
                f"list-cold rotates over {cold} pages of {len(measurer.workload.cold_users)} users"
            ),
            database=self.stack.mongodb_kind
            + ("" if os.environ.get("MONGODB_URL") else " (not a real mongod: slow per command)"),
            pinning=self.pinning.note,
            workers=arguments.workers,
            versions=versions,
            notes=self.notes,
        )
        about = [f"{c.name}: {c.about}" for c in candidates] + NOTES
        text = report(facts, measurer.results, first, about=about)
        arguments.output.write_text(text, encoding="utf-8")
        print("\n".join(results_table(measurer.results)))
        print(f"\nreport written to {arguments.output}")
        return 1 if measurer.results.refused or measurer.results.problems else 0


def _stop(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main() -> None:
    arguments = parse_arguments()
    signal.signal(signal.SIGTERM, _stop)  # cleaned up like Ctrl-C
    ensure_wrk()
    pinning = choose_pinning(enabled=not arguments.no_pin)
    progress(f"pinning: {pinning.note}")
    if pinning.load_cpu is not None:
        # This process only waits for wrk and samples memory: it stays off the server's CPU.
        os.sched_setaffinity(0, {pinning.load_cpu})
    status = 1
    with tempfile.TemporaryDirectory(prefix="taskql-harness-") as temp:
        harness = Harness(arguments, pinning, Path(temp))
        try:
            status = harness.run()
        except RuntimeError as error:
            progress(f"failed: {error}")
        except KeyboardInterrupt:
            progress("interrupted")
            status = 130
        finally:
            progress("stopping servers and services...")
            harness.stack.close()
    sys.exit(status)


if __name__ == "__main__":
    main()
