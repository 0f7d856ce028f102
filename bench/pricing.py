"""What query-cost pricing adds to one operation, in microseconds (`make bench-cost`).

Each call timed alone (perf_counter_ns), N per repeat after W warm-up calls, the garbage
collector on; each repeat's median and p95, then their medians over R repeats. On uvloop.
1. pricing before execution (pure) on CONTRACT.md's query-cost examples, the typical list query
   and a mutation, every cost checked; 2. `actual_cost` after execution, checked too; 3. the
   budget in a real redis-server (embedded; REDIS_URL when set) next to a bare PING and the
   local fallback; 4. (unless --no-e2e) `schema.execute` in process, anonymous, a context per
   call from the server's `create_context`, with and without the QueryCost extension.
Exits 1 when a cost differs from the expected one.
"""

from __future__ import annotations

import gc
import os
import platform
import secrets
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import common
import graphql
import strawberry
import uvloop
from common import facts, progress, table
from pymongo import AsyncMongoClient
from stack import redis_version
from starlette.datastructures import MutableHeaders
from starlette.requests import Request

from auth.throttle import LocalCounters
from cost.actual import actual_cost
from cost.budget import Budget, LocalBuckets, bucket_key
from cost.gcra import Mode
from cost.limits import too_complex
from cost.operation import Operation
from cost.pricing import requested_cost
from cost.tiers import Caller, Tier, caller_for, tiers_from
from events.bus import EventBus
from loaders.cache import ObjectCache
from observability.metrics import TaskqlMetrics
from schema.cost_directives import cost_model_of
from schema.extensions.query_cost import QueryCost
from schema.root import create_schema
from settings import Settings
from storage.embedded import start_redis
from storage.redis import RedisClient, create_redis_client
from storage.redis_guard import RedisGuard
from storage.transactions import Transactions
from transport.context import create_context

GOAL_US = 50.0
# Never refuses: the `user` tier's restore rate (a realistic script path) and a huge capacity.
BENCH_TIER = Tier(name="bench", capacity=1e9, restore_rate=50.0, max_query=1e9)
# CONTRACT.md's query-cost table in its order, then ours: name | the cost it states | query.
CASES = [
    (name, query, int(cost))
    for name, cost, query in (
        line.split(" | ", 2)
        for line in """
me | 1 | { me { id } }
contract 2 | 12 | { tasks(first: 10) { nodes { id title } } }
contract 3 | 12 | { tasks(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } totalCount } }
contract 4 | 22 | { tasks(first: 10) { nodes { id } edges { node { id } } } }
contract 5 | 22 | { tasks { nodes { id } } }
contract 6 | 7 | { tasks(last: 5) { nodes { id } } }
contract 7 | 22 | { tasks(first: 10) { nodes { id owner { name } } } }
contract 8 | 47 | { tasks(first: 5) { nodes { owner { tasks(first: 5) { nodes { id } } } } } }
contract 9 | 24 | { a: tasks(first: 10) { nodes { id } } b: tasks(first: 10) { nodes { id } } }
contract 10 | 12 | query { ...F } fragment F on Query { tasks(first: 10) { nodes { id } } }
contract 11 | 2 | { me { id taskCounts { total } } rateLimit { remaining } __typename }
introspection | 20 | { __schema { queryType { name } } }
mutation | 12 | mutation { createTask(input: {title: "x"}) { id owner { id } } }
node (union) | 6 | query ($id: ID!) { node(id: $id) { id ... on Task { owner { id } } ... on User { tasks(first: 3) { nodes { id } } } } }
typical list (50) | 102 | { tasks(first: 50) { edges { node { id title status owner { id name } } } pageInfo { hasNextPage endCursor } } }
""".strip().splitlines()  # noqa: E501
    )
]
QUERY = {name: query for name, query, _ in CASES}
ME, MUTATION, TYPICAL = QUERY["me"], QUERY["mutation"], QUERY["typical list (50)"]
RATE_LIMIT = "{ rateLimit { remaining } }"
VARIABLES = {"id": "VGFzazox"}  # for the query that declares $id
OWNER = {"id": "VXNlcjo2NjU1NDQzMzIyMTEwMDk5ODg3NzY2NTU", "name": "Ada Lovelace"}
TASK = {"status": "IN_PROGRESS", "owner": OWNER}
PAGE = {
    "edges": [
        {"node": {**TASK, "id": f"VGFzazo{n:020d}", "title": f"Task number {n}"}} for n in range(50)
    ],
    "pageInfo": {"hasNextPage": True, "endCursor": "Y3Vyc29yOjUw"},
}
# name, query, the response's data, the actual cost it must get.
RESPONSES = (
    ("typical list, 50 items", TYPICAL, {"tasks": PAGE}, 2 + 50 * 2),
    ("me, null (anonymous)", ME, {"me": None}, 0),
    (
        "mutation's answer",
        MUTATION,
        {"createTask": {"id": "VGFzazox", "owner": {"id": "VXNlcjox"}}},
        12,
    ),
)
SECTIONS = [
    "## 1. Pricing before execution (pure; µs per call, median / p95)\n\nThe document parsed"
    " once, outside the loop; `parse` is `graphql.parse`, for reference. `all three`: Operation +"
    " too_complex + requested_cost in a row, as the QueryCost extension runs them.",
    "## 2. Actual cost after execution (pure; µs per call, median / p95)",
    "## 3. The budget (µs per call, median / p95; CPU: this process's, mean per call)",
    "## 4. End to end: `schema.execute` in process, anonymous (µs per operation)\n\nA fresh"
    " context per call, as the server builds one; no HTTP, no MongoDB. Without QueryCost: the"
    " same schema minus that extension (`rateLimit` needs it).",
    "## Summary: the typical list query (a page of 50 with owners)",
]


@dataclass(frozen=True)
class Stat:
    """Microseconds per call: medians over repeats of each repeat's median and p95; for calls
    that wait on I/O, this process's CPU per call too."""

    median: float
    p95: float
    cpu: float = float("nan")

    def cell(self, cpu: bool = False) -> str:
        return f"{self.median:.1f} / {self.p95:.1f}" + f" (CPU {self.cpu:.0f})" * cpu


@dataclass(frozen=True)
class Timing:
    iterations: int
    repeats: int
    warmup: int

    async def run(self, call: Callable[[], Any], *, sync: bool = False) -> Stat:
        """`call` timed; a plain function with `sync` (no await in its timing)."""
        clock, repeats, cpu = time.perf_counter_ns, [], []
        for _ in range(self.warmup):
            _ = call() if sync else await call()
        for _ in range(self.repeats):
            samples = [0] * self.iterations
            gc.collect()
            cpu_start = time.process_time_ns()
            if sync:
                for index in range(self.iterations):
                    start = clock()
                    call()
                    samples[index] = clock() - start
            else:
                for index in range(self.iterations):
                    start = clock()
                    await call()
                    samples[index] = clock() - start
            cpu.append(time.process_time_ns() - cpu_start)
            repeats.append(samples)
        median = statistics.median(statistics.median(samples) for samples in repeats)
        p95 = statistics.median(statistics.quantiles(samples, n=20)[18] for samples in repeats)
        per_call = float("nan") if sync else statistics.median(cpu) / self.iterations
        return Stat(median / 1000, p95 / 1000, per_call / 1000)


class Bench:
    def __init__(self, arguments: Any, redis: RedisClient) -> None:
        anonymous = {"capacity": BENCH_TIER.capacity, "restore_rate": 50, "max_query": 1e9}
        tiers = {"TASKQL_COST_TIERS": {"anonymous": anonymous}}  # never refuses either
        self.settings = Settings(jwt_secret=secrets.token_urlsafe(48), **tiers)
        self.arguments, self.redis = arguments, redis
        self.schema = create_schema(self.settings)
        self.model = cost_model_of(self.schema)
        self.timing = partial(Timing, repeats=arguments.repeats, warmup=arguments.warmup)
        self.found: dict[str, Stat] = {}  # the typical list query's figures, for the summary
        self.problems: list[str] = []
        self.keys: list[str] = []  # every bucket key of the run, deleted at the end

    def build(self, query: str) -> Callable[[], Operation]:
        """What makes the query's Operation from its document, parsed and validated once."""
        document = graphql.parse(query)
        if errors := graphql.validate(self.schema._schema, document):
            raise RuntimeError(f"{query}: {errors[0].message}")
        variables = VARIABLES if "$id" in query else {}
        return partial(Operation, self.schema._schema, document, variables=variables)

    def check(self, name: str, what: str, cost: int, expected: int) -> str:
        if cost != expected:
            self.problems.append(f"{name}: {what} {cost}, expected {expected}")
        return str(cost) + ("" if cost == expected else f" (≠ {expected})")

    async def before(self) -> list[str]:
        timing, rows = self.timing(self.arguments.iterations), []
        for name, query, expected in CASES:
            build = self.build(query)
            operation = build()

            def price(build: Callable[[], Operation] = build) -> int:
                built = build()
                if too_complex(built) is not None:
                    raise RuntimeError("too complex")
                return requested_cost(built, self.model)

            stats = [
                await timing.run(call, sync=True)
                for call in (
                    partial(graphql.parse, query),
                    build,
                    partial(too_complex, operation),
                    partial(requested_cost, operation, self.model),
                    price,
                )
            ]
            if query == TYPICAL:
                self.found["parse"], self.found["before"] = stats[0], stats[4]
            cost = self.check(name, "requested", price(), expected)
            rows.append([f"{name}: `{query}`", cost, *(stat.cell() for stat in stats)])
            progress(f"priced {name:<18} {stats[4].median:6.1f} µs")
        header = ["query", "cost", "parse", "Operation", "too_complex", "requested_cost"]
        return table([*header, "all three"], rows)

    async def after(self) -> list[str]:
        timing, rows = self.timing(self.arguments.iterations), []
        for name, query, data, expected in RESPONSES:
            actual = partial(actual_cost, self.build(query)(), self.model, data=data)
            stat = await timing.run(actual, sync=True)
            if query == TYPICAL:
                self.found["after"] = stat
            rows.append([name, self.check(name, "actual", actual(), expected), stat.cell()])
            progress(f"actual {name:<24} {stat.median:6.1f} µs")
        return table(["response", "actual", "actual_cost"], rows)

    def caller(self, name: str) -> Caller:
        caller = Caller(tier=BENCH_TIER, key=f"bench:{uuid.uuid4().hex[:12]}:{name}")
        self.keys.append(bucket_key(caller))
        return caller

    async def budget(self, points: int, refund: int) -> list[str]:
        timing = self.timing(self.arguments.redis_iterations)
        budget, local = Budget(self.redis, local=LocalBuckets()), LocalBuckets()
        charged, refunded, both, alone = map(self.caller, ("charge", "refund", "both", "local"))
        # Enough charged first that every refund moves the bucket back (never below empty).
        calls = timing.warmup + timing.iterations * timing.repeats
        await budget.charge(refunded, 2 * refund * calls)

        async def pair() -> None:
            await budget.charge(both, points)
            await budget.refund(both, refund)

        def local_pair() -> None:
            local.apply(alone, mode=Mode.CHARGE, points=points)
            local.apply(alone, mode=Mode.REFUND, points=refund)

        rows = [
            ("PING (the bare round trip)", await timing.run(self.redis.ping)),
            (f"Budget.charge({points})", await timing.run(partial(budget.charge, charged, points))),
            (
                f"Budget.refund({refund})",
                await timing.run(partial(budget.refund, refunded, refund)),
            ),
            (f"charge({points}) + refund({refund})", await timing.run(pair)),
            (
                f"LocalBuckets.apply charge({points})",
                await timing.run(
                    partial(local.apply, alone, mode=Mode.CHARGE, points=points), sync=True
                ),
            ),
            ("LocalBuckets charge + refund", await timing.run(local_pair, sync=True)),
        ]
        if budget.degraded:
            raise RuntimeError("the budget fell back to its local buckets: Redis failed")
        for checked in (charged, refunded, both):
            if not (await budget.charge(checked, points)).allowed:
                raise RuntimeError(f"{checked.key}: a charge was refused; the timings are off")
        self.found["ping"], self.found["pair"] = rows[0][1], rows[3][1]
        for step, stat in rows:
            progress(f"budget {step:<36} {stat.median:6.1f} µs")
        cpu = [f"{stat.cpu:.1f}".replace("nan", "") for _, stat in rows]
        return table(
            ["step", "wall", "CPU"],
            [[r[0], r[1].cell(), c] for r, c in zip(rows, cpu, strict=True)],
        )

    async def end_to_end(self) -> list[str]:
        without = create_schema(self.settings)  # minus QueryCost, told by what its factory makes
        without.extensions = tuple(
            f for f in without.extensions if not (callable(f) and isinstance(f(), QueryCost))
        )
        metrics, guard = TaskqlMetrics(), RedisGuard(self.redis)
        await guard.start()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(connect=False)  # never used
        state = SimpleNamespace(  # what create_context reads of the server's app state
            settings=self.settings,
            redis_guard=guard,
            cache=ObjectCache(self.redis, metrics=metrics, guard=guard),
            budget=Budget(self.redis, local=LocalBuckets(), guard=guard),
            metrics=metrics,
            events=EventBus(self.redis, metrics=metrics, guard=guard),
            transactions=Transactions(mongo),
            login_fallback=LocalCounters(),
        )
        address = f"bench-{uuid.uuid4().hex}"  # its anonymous bucket is the run's own
        tiers = tiers_from(self.settings.effective_cost_tiers)
        self.keys.append(
            bucket_key(caller_for(tiers, user_id=None, user_tier=None, address=address))
        )
        app = SimpleNamespace(state=SimpleNamespace(taskql=state))
        scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": [], "app": app}

        def runner(schema: strawberry.Schema, query: str) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                request = Request({**scope, "client": (address, 50000)})
                context = create_context(
                    request,
                    authorization=None,
                    request_id=uuid.uuid4().hex,
                    response_headers=MutableHeaders(),
                )
                if (result := await schema.execute(query, context_value=context)).errors:
                    raise RuntimeError(f"{query}: {result.errors[0].message}")

            return run

        timing = self.timing(self.arguments.e2e_iterations)
        try:
            on, off = (
                await timing.run(runner(self.schema, ME)),
                await timing.run(runner(without, ME)),
            )
            rate = await timing.run(runner(self.schema, RATE_LIMIT))
        finally:
            await guard.close()
            await mongo.close()
        if state.budget.degraded:
            raise RuntimeError("the end-to-end budget fell back to its local buckets")
        self.found["me on"], self.found["me off"] = on, off
        progress(f"end to end {ME}: {on.median:.1f} µs, without QueryCost {off.median:.1f} µs")
        header = ["operation", "QueryCost on", "QueryCost off", "Δ wall median", "Δ CPU"]
        delta = [f"{on.median - off.median:+.1f}", f"{on.cpu - off.cpu:+.1f}"]
        rows = [[f"`{ME}`", on.cell(cpu=True), off.cell(cpu=True), *delta]]
        return table(header, [*rows, [f"`{RATE_LIMIT}`", rate.cell(cpu=True), "", "", ""]])

    def summary(self) -> list[str]:
        parse, before, after, ping, pair = (
            self.found[k] for k in ("parse", "before", "after", "ping", "pair")
        )
        pure = before.median + after.median
        lines = [
            f"- pricing, pure CPU: {before.median:.1f} before + {after.median:.1f} after ="
            f" **{pure:.1f} µs** ({'within' if pure <= GOAL_US else 'OVER'} the {GOAL_US:.0f} µs"
            f" goal); parsing the same document: {parse.median:.1f} µs.",
            f"- budget, charge + refund in Redis: {pair.median:.1f} µs wall ({pair.cpu:.1f} µs CPU"
            f" in this process), two round trips of which a bare PING takes {ping.median:.1f} µs"
            " wall each.",
        ]
        if "me on" in self.found:
            on, off = self.found["me on"], self.found["me off"]
            lines.append(
                f"- whole operation `{ME}`: QueryCost adds {on.median - off.median:+.1f} µs wall"
                f" ({on.cpu - off.cpu:+.1f} µs CPU) to {off.median:.1f} µs."
            )
        return lines


def timer_ns() -> float:
    """What timing one call adds (two perf_counter_ns calls); not subtracted."""
    clock, samples = time.perf_counter_ns, []
    for _ in range(20_000):
        start = clock()
        samples.append(clock() - start)
    return statistics.median(samples)


async def measure(arguments: Any, url: str, where: str) -> tuple[str, bool]:
    """The report, and whether every cost was as expected."""
    redis = create_redis_client(url)
    bench = Bench(arguments, redis)
    try:
        header = facts(
            python=platform.python_version(),
            graphql_core=graphql.__version__,
            redis=f"{await redis_version(url)} ({where})",
            timing=f"each call timed alone (perf_counter_ns, {timer_ns():.0f} ns timer overhead"
            f" not subtracted); median and p95 of each repeat, median over {arguments.repeats}"
            f" repeats; {arguments.iterations} calls per repeat ({arguments.redis_iterations} for"
            f" Redis, {arguments.e2e_iterations} end to end) after {arguments.warmup} warm-up"
            " calls",
        )
        sections = [await bench.before(), await bench.after()]
        typical = next(cost for _, query, cost in CASES if query == TYPICAL)
        # A typical refund: the page came back half full (2 + 25 x 2 actual).
        sections.append(await bench.budget(typical, typical - 52))
        sections.append(await bench.end_to_end() if arguments.e2e else [])
    finally:
        if bench.keys:
            await redis.delete(*bench.keys)
        await redis.aclose()
    lines = ["# Query-cost pricing benchmark (bench/pricing.py)", ""]
    lines += [f"- {key.replace('_', '-')}: {value}" for key, value in header.items()]
    for title, section in zip(SECTIONS, [*sections, bench.summary()], strict=True):
        lines += ["", title, "", *section] if section else []
    lines += ["", "Checks: " + ("every cost as expected" if not bench.problems else "FAILED")]
    lines += [f"- {problem}" for problem in bench.problems]
    return "\n".join(lines), not bench.problems


def main() -> int:
    parser = common.parser(__doc__, common.RESULTS / "pricing.md")
    number = common.positive(int)
    parser.add_argument("--iterations", type=number, default=1000, help="calls per repeat, pure")
    parser.add_argument("--redis-iterations", type=number, default=1000, help="... budget")
    parser.add_argument("--e2e-iterations", type=number, default=300, help="... end to end")
    parser.add_argument("--repeats", type=number, default=5, help="repeats of each timing")
    parser.add_argument("--warmup", type=number, default=200, help="untimed calls first")
    parser.add_argument("--no-e2e", dest="e2e", action="store_false", help="skip section 4")
    arguments = parser.parse_args()
    url, where, runtime = os.environ.get("REDIS_URL"), "REDIS_URL", Path(tempfile.mkdtemp())
    server = None if url else start_redis(runtime)
    try:
        url, where = (url, where) if server is None else (server.url, "embedded, loopback")
        progress(f"Redis at {url} ({where})")
        text, passed = uvloop.run(measure(arguments, url, where))
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(runtime, ignore_errors=True)
    print(text)
    common.write_report(arguments.output, text)
    return 0 if passed else 1


if __name__ == "__main__":
    common.run(main)
