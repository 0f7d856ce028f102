"""What query-cost pricing adds to one operation, measured side by side in one run.

    .venv/bin/python bench/pricing.py [--iterations 1000] [--redis-iterations 1000]
                                      [--e2e-iterations 300] [--repeats 5] [--warmup 200]
                                      [--no-e2e] [--markdown FILE | --no-markdown]

Every figure is microseconds per call: each call timed on its own with time.perf_counter_ns,
N calls per repeat (after W warm-up calls), the median and the 95th percentile of each repeat,
then the median of those over R repeats. The garbage collector stays on (a server has it on).

1. Pricing before execution, pure (no I/O), on CONTRACT.md's query-cost examples plus the
   typical list query (a page of 50 with owners) and a mutation: building
   `cost.operation.Operation`, `cost.limits.too_complex`, `cost.pricing.requested_cost`, and
   the three in a row as the QueryCost extension runs them. Each document is parsed once outside
   the loop (the server is to cache parsing); `graphql.parse` is timed apart, for reference.
   Every requested cost is checked against the contract's figure.
2. Pricing after execution: `cost.actual.actual_cost` on realistic responses (the list query's
   50 items with their owners, a null `me`, the mutation's answer), checked too.
3. The budget: `cost.budget.Budget.charge`, `refund`, and both in a row (what an operation whose
   actual cost is below its requested cost pays) against a real redis-server on loopback, the
   project's embedded one (`storage.embedded.start_redis`; REDIS_URL when set), next to a
   `PING` on the same client (the bare round trip) and `LocalBuckets.apply` (the per-process
   fallback while Redis is away). A tier with the `user` restore rate and a huge capacity, so
   nothing is refused; every bucket key is unique to the run and deleted afterwards. These rows
   also show the CPU this process spent per call (the rest of the wall time is waiting).
4. End to end (skip with --no-e2e): `schema.execute` in process, anonymous, with a fresh
   context per call as the server builds one, for `{ me { id } }` (null without a token: no
   MongoDB) and `{ rateLimit { remaining } }`, with the QueryCost extension and, for `me`,
   without it (the same schema minus that extension): the difference is what pricing, the
   budget round trips and the cost report add to a whole operation.

Runs on uvloop, like the server; takes about 20-40 s with the defaults. Other processes on the
machine make the figures noisy (the load average is printed). Exits 1 when a cost differs
from the expected one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import uvloop
from cache_report import cpu_model
from cli import HelpFormatter, positive
from stack import ROOT
from tables import table

sys.path.insert(0, str(ROOT))

import graphql
import strawberry
from graphql import DocumentNode, GraphQLSchema
from redis.asyncio import Redis
from starlette.datastructures import MutableHeaders
from starlette.requests import Request

from auth.throttle import LocalCounters
from cost.actual import actual_cost
from cost.budget import Budget, LocalBuckets, bucket_key
from cost.gcra import Mode
from cost.limits import too_complex
from cost.model import CostModel
from cost.operation import Operation
from cost.pricing import requested_cost
from cost.tiers import Caller, Tier, caller_for, tiers_from
from events.bus import EventBus
from loaders import create_loaders
from loaders.cache import ObjectCache
from observability.metrics import TaskqlMetrics
from schema.context import Context
from schema.cost_directives import cost_model_of
from schema.extensions.query_cost import QueryCost
from schema.root import create_schema
from settings import Settings
from storage.embedded import EmbeddedServer, start_redis
from storage.redis import create_redis_client

DEFAULT_MARKDOWN = ROOT / "bench" / "results" / "pricing.md"
GOAL_US = 50.0
# Nothing is ever refused: the `user` tier's restore rate (a realistic TTL and SET path in the
# script) with a capacity no run comes near.
BENCH_TIER = Tier(name="bench", capacity=1e9, restore_rate=50.0, max_query=1e9)

TYPICAL = (
    "{ tasks(first: 50) { edges { node { id title status owner { id name } } }"
    " pageInfo { hasNextPage endCursor } } }"
)
ME = "{ me { id } }"
MUTATION = 'mutation { createTask(input: {title: "x"}) { id owner { id } } }'


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    requested: int  # what CONTRACT.md (or the rules, for the list query) says it costs
    variables: Mapping[str, Any] | None = None


# CONTRACT.md's query-cost table, in its order, then the typical list query.
CASES = (
    Case("me", ME, 1),
    Case("contract 2", "{ tasks(first: 10) { nodes { id title } } }", 12),
    Case(
        "contract 3",
        "{ tasks(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } totalCount } }",
        12,
    ),
    Case("contract 4", "{ tasks(first: 10) { nodes { id } edges { node { id } } } }", 22),
    Case("contract 5", "{ tasks { nodes { id } } }", 22),
    Case("contract 6", "{ tasks(last: 5) { nodes { id } } }", 7),
    Case("contract 7", "{ tasks(first: 10) { nodes { id owner { name } } } }", 22),
    Case(
        "contract 8",
        "{ tasks(first: 5) { nodes { owner { tasks(first: 5) { nodes { id } } } } } }",
        47,
    ),
    Case(
        "contract 9",
        "{ a: tasks(first: 10) { nodes { id } } b: tasks(first: 10) { nodes { id } } }",
        24,
    ),
    Case(
        "contract 10",
        "query { ...F } fragment F on Query { tasks(first: 10) { nodes { id } } }",
        12,
    ),
    Case("contract 11", "{ me { id taskCounts { total } } rateLimit { remaining } __typename }", 2),
    Case("introspection", "{ __schema { queryType { name } } }", 20),
    Case("mutation", MUTATION, 12),
    Case(
        "node (union)",
        "query ($id: ID!) { node(id: $id) { id ... on Task { owner { id } }"
        " ... on User { tasks(first: 3) { nodes { id } } } } }",
        6,
        {"id": "VGFzazox"},
    ),
    Case("typical list (50)", TYPICAL, 2 + 50 * 2),
)


def _task(number: int) -> dict[str, Any]:
    return {
        "node": {
            "id": f"VGFzazo{number:020d}",
            "title": f"Task number {number}",
            "status": "IN_PROGRESS",
            "owner": {"id": "VXNlcjo2NjU1NDQzMzIyMTEwMDk5ODg3NzY2NTU", "name": "Ada Lovelace"},
        }
    }


@dataclass(frozen=True)
class Response:
    name: str
    case: Case
    data: dict[str, Any]
    actual: int


RESPONSES = (
    Response(
        "typical list, 50 items",
        CASES[-1],
        {
            "tasks": {
                "edges": [_task(number) for number in range(50)],
                "pageInfo": {"hasNextPage": True, "endCursor": "Y3Vyc29yOjUw"},
            }
        },
        2 + 50 * 2,
    ),
    Response("me, null (anonymous)", CASES[0], {"me": None}, 0),
    Response(
        "mutation's answer",
        CASES[12],
        {"createTask": {"id": "VGFzazox", "owner": {"id": "VXNlcjox"}}},
        12,
    ),
)


@dataclass(frozen=True)
class Stat:
    """Microseconds per call: medians over repeats of each repeat's median and p95."""

    median: float
    p95: float
    cpu: float | None = None  # this process's CPU per call, for calls that wait on I/O

    def cell(self) -> str:
        return f"{self.median:.1f} / {self.p95:.1f}"


def _summarise(repeats: list[list[int]], cpu_ns: list[int] | None = None) -> Stat:
    medians = [statistics.median(samples) for samples in repeats]
    p95s = [statistics.quantiles(samples, n=20)[18] for samples in repeats]
    cpu = None
    if cpu_ns is not None:
        cpu = statistics.median(
            ns / len(samples) for ns, samples in zip(cpu_ns, repeats, strict=True)
        )
        cpu /= 1000
    return Stat(statistics.median(medians) / 1000, statistics.median(p95s) / 1000, cpu)


@dataclass(frozen=True)
class Timing:
    iterations: int
    repeats: int
    warmup: int


def time_sync(call: Callable[[], object], timing: Timing) -> Stat:
    clock = time.perf_counter_ns
    for _ in range(timing.warmup):
        call()
    repeats = []
    for _ in range(timing.repeats):
        samples = [0] * timing.iterations
        gc.collect()
        for index in range(timing.iterations):
            start = clock()
            call()
            samples[index] = clock() - start
        repeats.append(samples)
    return _summarise(repeats)


async def time_async(call: Callable[[], Awaitable[object]], timing: Timing) -> Stat:
    clock = time.perf_counter_ns
    for _ in range(timing.warmup):
        await call()
    repeats, cpu = [], []
    for _ in range(timing.repeats):
        samples = [0] * timing.iterations
        gc.collect()
        cpu_start = time.process_time_ns()
        for index in range(timing.iterations):
            start = clock()
            await call()
            samples[index] = clock() - start
        cpu.append(time.process_time_ns() - cpu_start)
        repeats.append(samples)
    return _summarise(repeats, cpu)


def timer_overhead() -> float:
    """What timing one call adds (two perf_counter_ns calls), microseconds; not subtracted."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        start = clock()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ---- 1 and 2: pure pricing ------------------------------------------------------------------


@dataclass(frozen=True)
class PricingRow:
    case: Case
    cost: int
    parse: Stat
    operation: Stat
    limits: Stat
    requested: Stat
    all_three: Stat


def bench_pricing(
    graphql_schema: GraphQLSchema, model: CostModel, timing: Timing
) -> list[PricingRow]:
    rows = []
    for case in CASES:
        document: DocumentNode = graphql.parse(case.query)
        errors = graphql.validate(graphql_schema, document)
        if errors:
            raise RuntimeError(f"{case.name}: {errors[0].message}")
        variables = dict(case.variables or {})

        def build(
            document: DocumentNode = document, variables: dict[str, Any] = variables
        ) -> Operation:
            return Operation(graphql_schema, document, variables=variables)

        operation = build()
        if (reason := too_complex(operation)) is not None:
            raise RuntimeError(f"{case.name}: {reason}")

        def price(build: Callable[[], Operation] = build) -> int:
            operation = build()
            if too_complex(operation) is not None:
                raise RuntimeError("too complex")
            return requested_cost(operation, model)

        rows.append(
            PricingRow(
                case=case,
                cost=requested_cost(operation, model),
                parse=time_sync(partial(graphql.parse, case.query), timing),
                operation=time_sync(build, timing),
                limits=time_sync(partial(too_complex, operation), timing),
                requested=time_sync(partial(requested_cost, operation, model), timing),
                all_three=time_sync(price, timing),
            )
        )
        _progress(f"priced {case.name:<18} {rows[-1].all_three.median:6.1f} µs")
    return rows


@dataclass(frozen=True)
class ActualRow:
    response: Response
    cost: int
    stat: Stat


def bench_actual(
    graphql_schema: GraphQLSchema, model: CostModel, timing: Timing
) -> list[ActualRow]:
    rows = []
    for response in RESPONSES:
        document = graphql.parse(response.case.query)
        operation = Operation(graphql_schema, document, variables=response.case.variables)

        def actual(operation: Operation = operation, data: dict[str, Any] = response.data) -> int:
            return actual_cost(operation, model, data=data)

        rows.append(ActualRow(response, actual(), time_sync(actual, timing)))
        _progress(f"actual {response.name:<24} {rows[-1].stat.median:6.1f} µs")
    return rows


# ---- 3: the budget ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetRow:
    step: str
    stat: Stat


class Callers:
    """Callers whose bucket keys belong to this run; every key is deleted at the end."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:12]
        self.keys: list[str] = []

    def new(self, name: str) -> Caller:
        caller = Caller(tier=BENCH_TIER, key=f"bench:{self.run}:{name}")
        self.keys.append(bucket_key(caller))
        return caller

    async def delete(self, redis: Redis) -> None:
        if self.keys:
            await redis.delete(*self.keys)


async def bench_budget(
    redis: Redis, callers: Callers, *, points: int, refund: int, timing: Timing
) -> list[BudgetRow]:
    budget = Budget(redis, local=LocalBuckets())
    rows = [BudgetRow("PING (the bare round trip)", await time_async(redis.ping, timing))]

    caller = callers.new("charge")
    rows.append(
        BudgetRow(
            f"Budget.charge({points})",
            await time_async(lambda: budget.charge(caller, points), timing),
        )
    )
    refunded = callers.new("refund")
    # Enough charged first that every refund moves the bucket back (never below empty).
    await budget.charge(refunded, 2 * refund * (timing.warmup + timing.iterations * timing.repeats))
    rows.append(
        BudgetRow(
            f"Budget.refund({refund})",
            await time_async(lambda: budget.refund(refunded, refund), timing),
        )
    )
    both = callers.new("both")

    async def charge_and_refund() -> None:
        await budget.charge(both, points)
        await budget.refund(both, refund)

    rows.append(
        BudgetRow(
            f"charge({points}) + refund({refund})", await time_async(charge_and_refund, timing)
        )
    )
    if budget.degraded:
        raise RuntimeError("the budget fell back to its local buckets: Redis failed")
    for checked in (caller, refunded, both):
        if not (await budget.charge(checked, points)).allowed:
            raise RuntimeError(f"{checked.key}: a charge was refused; the timings are off")

    local = LocalBuckets()
    local_caller = callers.new("local")  # never in Redis; deleting it is harmless

    def local_pair() -> None:
        local.apply(local_caller, mode=Mode.CHARGE, points=points)
        local.apply(local_caller, mode=Mode.REFUND, points=refund)

    rows.append(
        BudgetRow(
            f"LocalBuckets.apply charge({points})",
            time_sync(lambda: local.apply(local_caller, mode=Mode.CHARGE, points=points), timing),
        )
    )
    rows.append(BudgetRow("LocalBuckets charge + refund", time_sync(local_pair, timing)))
    for row in rows:
        _progress(f"budget {row.step:<36} {row.stat.median:6.1f} µs")
    return rows


# ---- 4: end to end ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EndToEndRow:
    query: str
    with_cost: Stat
    without_cost: Stat | None


def _without_query_cost(schema: strawberry.Schema) -> strawberry.Schema:
    """The schema minus the QueryCost extension (its factories are told apart by what they make)."""
    schema.extensions = tuple(
        factory
        for factory in schema.extensions
        if not (callable(factory) and isinstance(factory(), QueryCost))
    )
    return schema


class InProcess:
    """Contexts as the server builds them, for anonymous operations from one address."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.redis = redis
        self.metrics = TaskqlMetrics()
        self.cache = ObjectCache(redis, metrics=self.metrics)
        self.budget = Budget(redis, local=LocalBuckets())
        self.events = EventBus(redis, metrics=self.metrics)
        self.login_fallback = LocalCounters()
        self.address = f"bench-{uuid.uuid4().hex}"

    def bucket_key(self) -> str:
        tiers = tiers_from(self.settings.effective_cost_tiers)
        caller = caller_for(tiers, user_id=None, user_tier=None, address=self.address)
        return bucket_key(caller)

    def context(self) -> Context:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [],
            "client": ("127.0.0.1", 50000),
        }
        return Context(
            request=Request(scope),
            response_headers=MutableHeaders(),
            settings=self.settings,
            redis=self.redis,
            cache=self.cache,
            loaders=create_loaders(self.cache),
            viewer_id=None,
            auth_error=None,
            client_address=self.address,
            request_id=uuid.uuid4().hex,
            login_fallback=self.login_fallback,
            budget=self.budget,
            metrics=self.metrics,
            events=self.events,
        )


async def bench_end_to_end(settings: Settings, redis: Redis, timing: Timing) -> list[EndToEndRow]:
    with_cost = create_schema(settings)
    without_cost = _without_query_cost(create_schema(settings))
    process = InProcess(settings, redis)

    def runner(schema: strawberry.Schema, query: str) -> Callable[[], Awaitable[object]]:
        async def run() -> None:
            result = await schema.execute(query, context_value=process.context())
            if result.errors:
                raise RuntimeError(f"{query}: {result.errors[0].message}")

        return run

    try:
        rows = [
            EndToEndRow(
                ME,
                await time_async(runner(with_cost, ME), timing),
                await time_async(runner(without_cost, ME), timing),
            ),
            EndToEndRow(
                "{ rateLimit { remaining } }",
                await time_async(runner(with_cost, "{ rateLimit { remaining } }"), timing),
                None,
            ),
        ]
    finally:
        await redis.delete(process.bucket_key())
    if process.budget.degraded:
        raise RuntimeError("the end-to-end budget fell back to its local buckets")
    for row in rows:
        _progress(f"end to end {row.query:<28} {row.with_cost.median:6.1f} µs")
    return rows


# ---- the report ------------------------------------------------------------------------------


def _command(arguments: argparse.Namespace) -> str:
    words = [".venv/bin/python", "bench/pricing.py"]
    for option in ("iterations", "redis_iterations", "e2e_iterations", "repeats", "warmup"):
        words += [f"--{option.replace('_', '-')}", str(getattr(arguments, option))]
    if not arguments.e2e:
        words.append("--no-e2e")
    return shlex.join(words)


@dataclass
class Results:
    context: dict[str, str]
    pricing: list[PricingRow]
    actual: list[ActualRow]
    budget: list[BudgetRow]
    end_to_end: list[EndToEndRow]

    def problems(self) -> list[str]:
        found = [
            f"{row.case.name}: requested {row.cost}, expected {row.case.requested}"
            for row in self.pricing
            if row.cost != row.case.requested
        ]
        found += [
            f"{row.response.name}: actual {row.cost}, expected {row.response.actual}"
            for row in self.actual
            if row.cost != row.response.actual
        ]
        return found


def report(results: Results) -> str:
    lines = ["# Query-cost pricing benchmark (bench/pricing.py)", ""]
    lines += [f"- {key}: {value}" for key, value in results.context.items()]
    lines += [
        "",
        "## 1. Pricing before execution (pure; µs per call, median / p95)",
        "",
        "The document parsed once, outside the loop; `parse` is `graphql.parse`, for reference."
        " `all three`: Operation + too_complex + requested_cost in a row, as the QueryCost"
        " extension runs them.",
        "",
    ]
    header = ["query", "cost", "parse", "Operation", "too_complex", "requested_cost"]
    header.append("all three")
    rows = [
        [
            f"{row.case.name}: `{row.case.query}`",
            str(row.cost)
            + ("" if row.cost == row.case.requested else f" (≠ {row.case.requested})"),
            row.parse.cell(),
            row.operation.cell(),
            row.limits.cell(),
            row.requested.cell(),
            row.all_three.cell(),
        ]
        for row in results.pricing
    ]
    lines += table(header, rows)
    lines += ["", "## 2. Actual cost after execution (pure; µs per call, median / p95)", ""]
    lines += table(
        ["response", "actual", "actual_cost"],
        [[row.response.name, str(row.cost), row.stat.cell()] for row in results.actual],
    )
    lines += [
        "",
        "## 3. The budget (µs per call, median / p95; CPU: this process's, mean per call)",
        "",
    ]
    lines += table(
        ["step", "wall", "CPU"],
        [
            [row.step, row.stat.cell(), "" if row.stat.cpu is None else f"{row.stat.cpu:.1f}"]
            for row in results.budget
        ],
    )
    if results.end_to_end:
        lines += [
            "",
            "## 4. End to end: `schema.execute` in process, anonymous (µs per operation)",
            "",
            "A fresh context per call, as the server builds one; no HTTP, no MongoDB. Without"
            " QueryCost: the same schema minus that extension (`rateLimit` needs it).",
            "",
        ]
        rows = []
        for row in results.end_to_end:
            off = row.without_cost
            with_cost = row.with_cost
            rows.append(
                [
                    f"`{row.query}`",
                    f"{with_cost.cell()} (CPU {with_cost.cpu:.0f})",
                    "" if off is None else f"{off.cell()} (CPU {off.cpu:.0f})",
                    "" if off is None else f"{with_cost.median - off.median:+.1f}",
                    ""
                    if off is None or off.cpu is None or with_cost.cpu is None
                    else f"{with_cost.cpu - off.cpu:+.1f}",
                ]
            )
        lines += table(
            ["operation", "QueryCost on", "QueryCost off", "Δ wall median", "Δ CPU"], rows
        )
    lines += ["", "## Summary: the typical list query (a page of 50 with owners)", ""]
    lines += summary_lines(results)
    problems = results.problems()
    lines += ["", "Checks: " + ("every cost as expected" if not problems else "FAILED")]
    lines += [f"- {problem}" for problem in problems]
    return "\n".join(lines)


def summary_lines(results: Results) -> list[str]:
    typical = next(row for row in results.pricing if row.case.query == TYPICAL)
    actual = next(row for row in results.actual if row.response.case.query == TYPICAL)
    pure = typical.all_three.median + actual.stat.median
    budget = {row.step: row.stat for row in results.budget}
    pair = next(stat for step, stat in budget.items() if "+ refund" in step and "Local" not in step)
    ping = budget["PING (the bare round trip)"]
    verdict = "within" if pure <= GOAL_US else "OVER"
    lines = [
        f"- pricing, pure CPU: {typical.all_three.median:.1f} before + {actual.stat.median:.1f}"
        f" after = **{pure:.1f} µs** ({verdict} the {GOAL_US:.0f} µs goal);"
        f" parsing the same document: {typical.parse.median:.1f} µs.",
        f"- budget, charge + refund in Redis: {pair.median:.1f} µs wall"
        f" ({pair.cpu or 0:.1f} µs CPU in this process), two round trips"
        f" of which a bare PING takes {ping.median:.1f} µs wall each.",
    ]
    if results.end_to_end and results.end_to_end[0].without_cost is not None:
        row = results.end_to_end[0]
        off = row.without_cost
        assert off is not None
        lines.append(
            f"- whole operation `{row.query}`: QueryCost adds"
            f" {row.with_cost.median - off.median:+.1f} µs wall"
            f" ({(row.with_cost.cpu or 0) - (off.cpu or 0):+.1f} µs CPU) to {off.median:.1f} µs."
        )
    return lines


# ---- running ---------------------------------------------------------------------------------


@contextmanager
def redis_url() -> Iterator[tuple[str, str]]:
    """REDIS_URL when set, else the project's embedded redis-server (ended with this block)."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured, "REDIS_URL"
        return
    runtime_dir = Path(tempfile.mkdtemp(prefix="taskql-bench-pricing-"))
    server: EmbeddedServer | None = None
    try:
        server = start_redis(runtime_dir)
        yield server.url, "embedded, loopback"
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(runtime_dir, ignore_errors=True)


def run_context(arguments: argparse.Namespace, *, redis: str) -> dict[str, str]:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "command": _command(arguments),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model(),
        "cpus": str(os.cpu_count()),
        "load average at start": load,
        "python": platform.python_version(),
        "graphql-core": graphql.__version__,
        "platform": platform.platform(terse=True),
        "redis": redis,
        "timing": (
            f"each call timed alone (perf_counter_ns, {timer_overhead() * 1000:.0f} ns timer"
            " overhead not subtracted); median and p95 of each repeat, median over"
            f" {arguments.repeats} repeats; {arguments.iterations} calls per repeat"
            f" ({arguments.redis_iterations} for Redis, {arguments.e2e_iterations} end to end)"
            f" after {arguments.warmup} warm-up calls"
        ),
    }


async def _measure(arguments: argparse.Namespace, url: str, where: str) -> Results:
    # The anonymous tier (the end-to-end operations') never refuses either.
    anonymous = {"capacity": BENCH_TIER.capacity, "restore_rate": 50, "max_query": 1e9}
    overrides: dict[str, Any] = {
        "jwt_secret": secrets.token_urlsafe(48),
        "TASKQL_COST_TIERS": {"anonymous": anonymous},
    }
    settings = Settings(**overrides)
    schema = create_schema(settings)
    model = cost_model_of(schema)
    graphql_schema = schema._schema
    pure = Timing(arguments.iterations, arguments.repeats, arguments.warmup)
    redis_timing = Timing(arguments.redis_iterations, arguments.repeats, arguments.warmup)
    e2e_timing = Timing(arguments.e2e_iterations, arguments.repeats, arguments.warmup)

    redis = create_redis_client(url)
    callers = Callers()
    try:
        info = await redis.info("server")
        context = run_context(
            arguments, redis=f"redis-server {info.get('redis_version', '?')} ({where})"
        )
        pricing = bench_pricing(graphql_schema, model, pure)
        actual = bench_actual(graphql_schema, model, pure)
        typical = next(row for row in pricing if row.case.query == TYPICAL)
        # A typical refund: the page came back half full (2 + 25 x 2 actual).
        budget = await bench_budget(
            redis, callers, points=typical.cost, refund=typical.cost - 52, timing=redis_timing
        )
        end_to_end = []
        if arguments.e2e:
            end_to_end = await bench_end_to_end(settings, redis, e2e_timing)
    finally:
        await callers.delete(redis)
        await redis.aclose()
    return Results(context, pricing, actual, budget, end_to_end)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument(
        "--iterations", type=positive(int), default=1000, help="calls per repeat, pure functions"
    )
    parser.add_argument(
        "--redis-iterations", type=positive(int), default=1000, help="calls per repeat, budget"
    )
    parser.add_argument(
        "--e2e-iterations", type=positive(int), default=300, help="calls per repeat, end to end"
    )
    parser.add_argument("--repeats", type=positive(int), default=5, help="repeats of each timing")
    parser.add_argument("--warmup", type=positive(int), default=200, help="untimed calls first")
    parser.add_argument(
        "--no-e2e", dest="e2e", action="store_false", help="skip the schema.execute timings"
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", default=DEFAULT_MARKDOWN, help="the report"
    )
    parser.add_argument(
        "--no-markdown",
        dest="markdown",
        action="store_const",
        const=None,
        help="print the report, write no file",
    )
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    with redis_url() as (url, where):
        _progress(f"Redis at {url} ({where})")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results = runner.run(_measure(arguments, url, where))
    text = report(results)
    print(text)
    if arguments.markdown is not None:
        arguments.markdown.write_text(text + "\n", encoding="utf-8")
        _progress(f"written to {arguments.markdown}")
    sys.exit(1 if results.problems() else 0)


if __name__ == "__main__":
    main()
