"""What the Redis object cache is worth for one list read, measured side by side in one run.

    .venv/bin/python bench/cache.py [--users 20] [--tasks-per-user 200] [--connections 10]
                                    [--duration 5] [--rounds 3] [--markdown FILE] [--json FILE]

The read: `{ tasks(first: 50) { nodes { owner { name taskCounts { total } } } } }` as a
seeded user (three cache lookups: the page, the owner, the owner's counts).

Setup: `server.py services` (shared MongoDB and Redis: embedded unless MONGODB_URL/REDIS_URL
are set), `server.py seed --reset` into a database of its own, then two `server.py serve`
(one worker each) on those stores with one JWT key: the cache on, and TASKQL_CACHE=0.

1. MongoDB commands per request, from `taskql_db_commands_total{source="request"}` scraped
   before and after one request: cold (nothing cached for the user), warm (the same again),
   after a write (an `updateTask` through the API, then the read), and with the cache off.
2. Requests per second: N keep-alive connections (a closed loop: each sends its next request
   when the last is answered) for a fixed time, the three scenarios one after the other in every
   round (their order rotating), R rounds. All three send the same requests: connection i
   cycles through users i, i+N, i+2N...; a user belongs to one connection only.
   - warm: the cache-on server (checked: at most 1% of lookups miss).
   - cold: the cache-on server, and before each request the load generator retires that user's
     entries in Redis: a new generation for the owner (what every task write does: pages and
     counts computed before it are retired) and the owner's profile entry deleted (what only
     its TTL does otherwise). Every lookup misses; checked from the server's metrics
     (`taskql_cache_requests_total`: misses = 3 x requests, no hit).
   - disabled: the TASKQL_CACHE=0 server (checked: no lookup at all).
   In warm and disabled the load generator makes the same Redis round trip without changing
   anything (EXISTS on the same keys), so all three cost the load generator the same.
   Every answer is compared byte for byte with the one checked before timing (50 nodes, the
   owner's name, the seeded total). Ratios are taken within each round, then their median.

The load generator, both servers and the stores share this machine's CPUs: the table shows the
CPU each spent per request, and how busy the machine was (other processes make figures noisy).
The load generator writes prepared requests to raw keep-alive sockets (`--client raw`): on a
2-core machine httpx cost about 2.5 ms of CPU per request against 0.3-0.5 ms, taken from the
servers it measures. With MONGODB_URL/REDIS_URL set, the stores' CPU is not measured (0).
The run takes about a minute with the defaults; it exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn

import httpx
import uvloop
from cache_report import (
    SCENARIOS,
    ScenarioRun,
    SingleRead,
    as_json,
    problem_lines,
    report,
    run_context,
)
from cache_users import CacheRetirer, User, check_answer, sign_in, write_one_task
from cli import HelpFormatter, positive
from loadgen import CLIENTS, Request, answer_of, run_load
from scrape import Samples, cache_lookups, db_commands, queries_ok, scrape
from stack import Server, Stack, cpu_seconds

from storage.redis import create_redis_client

DATABASE = "taskql_bench_cache"
WARM_MISS_TOLERANCE = 0.01


class Bench:
    """The measurements, against a running stack."""

    def __init__(
        self, arguments: argparse.Namespace, *, stack: Stack, on: Server, off: Server
    ) -> None:
        self.arguments = arguments
        self.stack, self.on, self.off = stack, on, off
        self.http = httpx.AsyncClient(timeout=30.0)
        self.redis = create_redis_client(stack.redis_url)
        self.retirer = CacheRetirer(self.redis)
        self.users: dict[str, User] = {}
        self.expected: dict[str, bytes] = {}
        self.lookups_per_request = 0.0

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()

    async def scrape(self, server: Server) -> Samples:
        return await scrape(self.http, server.base_url)

    async def answer(self, server: Server, request: Request) -> bytes:
        reply = await self.http.post(
            f"{server.base_url}{request.path}", content=request.body, headers=request.headers
        )
        if reply.status_code != 200:
            raise RuntimeError(f"{server.name} answered {reply.status_code}: {reply.text[:300]}")
        return reply.content

    async def prepare(self) -> None:
        """Signs every user in; checks and keeps each one's answer, cold, warm and cache off."""
        users = await sign_in(self.http, self.on.base_url, count=self.arguments.users)
        for user in users:
            await self.retirer.retire(user)
            cold = await self.answer(self.on, user.request)
            check_answer(cold, user, tasks_per_user=self.arguments.tasks_per_user)
            for server in (self.on, self.off):
                if answer_of(await self.answer(server, user.request)) != answer_of(cold):
                    raise RuntimeError(f"user {user.number}: {server.name} answered otherwise")
            self.users[user.request.key] = user
            self.expected[user.request.key] = cold

    async def single_read(self, case: str, server: Server, user: User) -> SingleRead:
        before = await self.scrape(server)
        answer = await self.answer(server, user.request)
        if answer_of(answer) != answer_of(self.expected[user.request.key]):
            raise RuntimeError(f"{case}: a different answer")
        after = await self.scrape(server)
        return SingleRead(case, db_commands(before, after), cache_lookups(before, after))

    async def single_reads(self) -> list[SingleRead]:
        user = next(iter(self.users.values()))
        await self.retirer.retire(user)
        reads = [
            await self.single_read("cold (nothing cached)", self.on, user),
            await self.single_read("warm (the same again)", self.on, user),
        ]
        await write_one_task(self.http, self.on.base_url, user)
        reads.append(await self.single_read("after a write (updateTask)", self.on, user))
        reads.append(await self.single_read("cache disabled", self.off, user))
        self.lookups_per_request = sum(reads[0].lookups.values())
        return reads

    def _scenario(self, name: str) -> tuple[Server, Callable[[Request], Awaitable[None]]]:
        def using(step: Callable[[User], Awaitable[None]]) -> Callable[[Request], Awaitable[None]]:
            return lambda request: step(self.users[request.key])

        if name == "cold":
            return self.on, using(self.retirer.retire)
        return (self.off if name == "disabled" else self.on), using(self.retirer.touch)

    def _plans(self) -> list[list[Request]]:
        users = list(self.users.values())
        connections = self.arguments.connections
        return [[user.request for user in users[i::connections]] for i in range(connections)]

    async def run_scenario(self, name: str, *, round_number: int, seconds: float) -> ScenarioRun:
        server, before_each = self._scenario(name)
        processes = self.stack.processes(server)
        cpu_before = cpu_seconds(processes)
        before = await self.scrape(server)
        load = await run_load(
            base_url=server.base_url,
            plans=self._plans(),
            duration=seconds,
            expected=self.expected,
            before_each=before_each,
            client=self.arguments.client,
        )
        after = await self.scrape(server)
        cpu_after = cpu_seconds(processes)
        run = ScenarioRun(name, round_number, load)
        run.commands = db_commands(before, after)
        run.lookups = cache_lookups(before, after)
        run.queries_ok = queries_ok(before, after)
        run.cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_before}
        run.cpu["client"] = load.client_cpu
        # Every CPU's idle time tells how busy the machine was; what our processes did not
        # spend of that went to others (other benchmarks, test suites: noise).
        capacity = load.seconds * (os.cpu_count() or 1)
        run.busy = 1 - run.cpu.pop("idle") / capacity
        run.others = max(0.0, run.busy - sum(run.cpu.values()) / capacity)
        run.problems = self._problems(run)
        return run

    def _problems(self, run: ScenarioRun) -> list[str]:
        load, lookups = run.load, run.lookups
        problems = []
        if load.failures:
            problems.append(f"{load.failures} wrong answers, the first: {load.first_failure}")
        if run.queries_ok != load.requests:
            problems.append(f"server counted {run.queries_ok:g} ok queries, not {load.requests}")
        hits, misses = lookups.get("hit", 0.0), lookups.get("miss", 0.0)
        if lookups.get("error"):
            problems.append(f"{lookups['error']:g} cache lookups failed")
        if run.scenario == "cold" and (hits or misses != self.lookups_per_request * load.requests):
            problems.append(f"not cold: {hits:g} hits, {misses:g} misses")
        if run.scenario == "warm" and misses > WARM_MISS_TOLERANCE * (hits + misses):
            problems.append(f"not warm: {hits:g} hits, {misses:g} misses")
        if run.scenario == "disabled" and (hits or misses):
            problems.append(f"the cache answered {hits + misses:g} lookups")
        return problems

    async def measure(self) -> tuple[list[SingleRead], list[ScenarioRun]]:
        await self.prepare()
        reads = await self.single_reads()
        for name in SCENARIOS:  # first-use costs (connections, caches) land here, unreported
            warmup = await self.run_scenario(name, round_number=0, seconds=self.arguments.warmup)
            if warmup.problems:
                raise RuntimeError(f"warm-up {name}: {'; '.join(warmup.problems)}")
        runs = []
        for number in range(1, self.arguments.rounds + 1):
            shift = (number - 1) % len(SCENARIOS)
            for name in SCENARIOS[shift:] + SCENARIOS[:shift]:
                run = await self.run_scenario(
                    name, round_number=number, seconds=self.arguments.duration
                )
                runs.append(run)
                _progress(
                    f"round {number} {name:<8} {run.load.rps:7.1f} req/s"
                    f" ({run.load.requests} requests)"
                    + (f"  PROBLEM: {'; '.join(run.problems)}" if run.problems else "")
                )
        return reads, runs


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def _run(arguments: argparse.Namespace, stack: Stack, on: Server, off: Server) -> int:
    bench = Bench(arguments, stack=stack, on=on, off=off)
    try:
        _progress("signing in, checking every user's answer on both servers...")
        reads, runs = await bench.measure()
        info = await bench.redis.info("server")
        if isinstance(info, dict) and "redis_version" not in info:  # a cluster: one per node
            info = next(iter(info.values()), {})
    finally:
        await bench.close()
    context = run_context(
        arguments, mongodb=stack.mongodb_kind, redis=str(info.get("redis_version", "?"))
    )
    text = report(context, reads, runs)
    print(text)
    if arguments.markdown:
        title = "# Cache benchmark (bench/cache.py)\n\n"
        arguments.markdown.write_text(f"{title}```\n{text}\n```\n", encoding="utf-8")
    if arguments.json:
        document = as_json(context=context, reads=reads, runs=runs)
        arguments.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if problem_lines(runs) else 0


# Sign-ins are anonymous: 20 users on two servers would empty one address's bucket.
UNLIMITED = {"capacity": 1e12, "restore_rate": 1e12, "max_query": 1e12}
UNLIMITED_TIERS = json.dumps({"user": UNLIMITED, "anonymous": UNLIMITED})


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--users", type=positive(int), default=20, help="seeded users")
    parser.add_argument(
        "--tasks-per-user", type=positive(int), default=200, help="seeded tasks per user (50+)"
    )
    parser.add_argument("--connections", type=positive(int), default=10, help="concurrency")
    parser.add_argument(
        "--duration", type=positive(float), default=5.0, help="seconds per scenario per round"
    )
    parser.add_argument("--rounds", type=positive(int), default=3, help="rounds of the three")
    parser.add_argument(
        "--warmup", type=positive(float), default=1.0, help="seconds per scenario, unreported"
    )
    parser.add_argument(
        "--client", choices=CLIENTS, default="raw", help="load generator's HTTP client"
    )
    parser.add_argument(
        "--redis-cluster",
        action="store_true",
        help="run on an embedded 3-master, 3-replica Redis Cluster (server.py services "
        "--redis-cluster) instead of one redis-server",
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the report")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every figure")
    arguments = parser.parse_args()
    if arguments.tasks_per_user < 50:
        parser.error("--tasks-per-user must be at least 50 (the read is a page of 50)")
    if arguments.users < arguments.connections:
        parser.error("--users must be at least --connections (a user has one connection)")
    return arguments


def _stop(signum: int, _frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def main() -> None:
    arguments = parse_arguments()
    signal.signal(signal.SIGTERM, _stop)  # cleaned up like Ctrl-C
    stack = Stack()
    status = 1
    try:
        _progress("starting `server.py services`...")
        stack.start_services(redis_cluster=arguments.redis_cluster)
        _progress(f"seeding {arguments.users} users x {arguments.tasks_per_user} tasks...")
        stack.seed(
            database=DATABASE, users=arguments.users, tasks_per_user=arguments.tasks_per_user
        )
        shared = {
            "JWT_SECRET": secrets.token_urlsafe(48),
            "JWT_ACCESS_TTL": str(24 * 3600),  # outlives any run: no token expires mid-round
            "MONGODB_DB": DATABASE,
            # Budgets that never run low: each answer's cost extension (bytes compared
            # exactly) then reports a full bucket every time.
            "TASKQL_COST_TIERS": UNLIMITED_TIERS,
        }
        _progress("starting two servers (cache on, TASKQL_CACHE=0)...")
        on = stack.start_server("cache on", {**shared, "TASKQL_CACHE": "1"})
        off = stack.start_server("cache off", {**shared, "TASKQL_CACHE": "0"})
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            status = runner.run(_run(arguments, stack, on, off))
    except RuntimeError as error:
        _progress(f"failed: {error}")
    except KeyboardInterrupt:
        _progress("interrupted")
        status = 130
    finally:
        _progress("stopping servers and services...")
        stack.close()
    sys.exit(status)


if __name__ == "__main__":
    main()
