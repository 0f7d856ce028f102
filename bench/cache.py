"""What the object cache is worth (`make bench-cache`): the harness's `cache-read` and
`cache-cold` scenarios on taskql and taskql-nocache, and what only they need.

- warm: taskql on cache-read (the whole-response cache included, as shipped);
- cold: taskql on cache-cold: before each request the load generator (bench/loadgen.py) retires
  that user's entries in Redis: a new generation for the owner (what every task write does:
  pages and counts computed before it are retired) and the user's entry deleted (which only its
  TTL retires otherwise). Every lookup must miss, none hit (`taskql_cache_requests_total`);
- disabled: taskql-nocache on cache-read (`TASKQL_CACHE=0`: no lookup at all).

Before timing, one request's MongoDB commands and cache lookups: cold, warm, right after a
write (updateTask), cache disabled. Imports loaders.cache_keys, so the bench follows the
cache's key layout when it changes.
"""

from __future__ import annotations

import asyncio
import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import common
import orjson
from beanie import PydanticObjectId
from scenarios import Call, graphql_body
from stats import ratio_text, ratios_by_repeat, spread

from loaders.cache_keys import GENERATION_TTL_SECONDS, CacheKeys
from storage.redis import create_redis_client

if TYPE_CHECKING:
    from candidates import Candidate
    from measure import Cell, Measurer

SIDES = {
    "warm": ("cache-read", "taskql"),
    "cold": ("cache-cold", "taskql"),
    "disabled": ("cache-read", "taskql-nocache"),
}
RATIOS = (("warm", "cold"), ("warm", "disabled"), ("cold", "disabled"))
CPU_PARTS = ("app", "mongodb", "redis", "client")
FIRST_TASK = "{ tasks(first: 1) { nodes { id version title } } }"
REWRITE = "mutation Rewrite($input: UpdateTaskInput!) { updateTask(input: $input) { id } }"

SingleRead = tuple[str, Mapping[str, float], Mapping[str, float]]  # case, commands, lookups


class Retirer:
    """Makes a user's next read miss every cache entry it touches, from outside: a new random
    generation for the owner, as a task write makes, and the user's entry deleted."""

    def __init__(self, redis_url: str) -> None:
        self.redis = create_redis_client(redis_url)
        self.keys = CacheKeys(0)

    async def retire(self, call: Call) -> None:
        owner = PydanticObjectId(call.owner)
        # Raw commands: a cluster pipeline routes them by key (both share the owner's slot).
        async with self.redis.pipeline(transaction=False) as pipe:
            generation = os.urandom(8).hex().encode()
            ttl = GENERATION_TTL_SECONDS * 1000
            pipe.execute_command("SET", self.keys.generation(owner), generation, "PX", ttl)
            pipe.execute_command("DEL", self.keys.user(owner))
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


async def _retire_once(redis_url: str, call: Call) -> None:
    retirer = Retirer(redis_url)
    try:
        await retirer.retire(call)
    finally:
        await retirer.close()


def single_requests(
    measurer: Measurer, candidates: Mapping[str, Candidate], call: Call
) -> list[SingleRead]:
    """One request's MongoDB commands and cache lookups, on each of the candidates there are."""
    reads: list[SingleRead] = []
    if "taskql" in candidates:
        with measurer.serving(candidates["taskql"]) as running:
            asyncio.run(_retire_once(measurer.stack.redis_url, call))
            reads.append(("cold (nothing cached)", *measurer.one_request(running, call)))
            reads.append(("warm (the same again)", *measurer.one_request(running, call)))
            # A write of the task's own title: the data stay as the references have them.
            _, answer = measurer.post(running, Call(call.token, graphql_body(FIRST_TASK)))
            task = orjson.loads(answer)["data"]["tasks"]["nodes"][0]
            changes = {"id": task["id"], "expectedVersion": task["version"], "title": task["title"]}
            measurer.one_request(
                running, Call(call.token, graphql_body(REWRITE, {"input": changes}))
            )
            reads.append(("after a write (updateTask)", *measurer.one_request(running, call)))
    if "taskql-nocache" in candidates:
        with measurer.serving(candidates["taskql-nocache"]) as running:
            reads.append(("cache disabled", *measurer.one_request(running, call)))
    return reads


def section(cells: Sequence[Cell], reads: Sequence[SingleRead]) -> tuple[list[str], list[str]]:
    """The report's lines on the cache scenarios, and the checks they failed."""
    runs = {
        side: [c for c in cells if (c.scenario, c.candidate) == key] for side, key in SIDES.items()
    }
    runs = {side: mine for side, mine in runs.items() if mine}
    if not runs and not reads:
        return [], []
    lines = ["## The object cache: warm, cold, disabled", ""]
    if reads:
        names = sorted({name for _, commands, _ in reads for name in commands})
        rows = [
            [
                case,
                *(f"{commands.get(name, 0):g}" for name in names),
                f"{sum(commands.values()):g}",
                *(f"{lookups.get(result, 0):g}" for result in ("hit", "miss")),
            ]
            for case, commands, lookups in reads
        ]
        lines += ["MongoDB commands and cache lookups of one request (the page of 50 with owners"]
        lines += ["and counts):", ""]
        lines += common.table(["one request", *names, "total", "cache hit", "cache miss"], rows)
        lines.append("")
    rows = []
    for side, mine in runs.items():

        def median(value: Callable[[Cell], float], mine: Sequence[Cell] = mine) -> float:
            return statistics.median(value(cell) for cell in mine)

        rps = spread(c.wrk.rps for c in mine)
        cpu = [median(lambda c, p=p: 1000 * c.per_request(c.cpu.seconds[p])) for p in CPU_PARTS]
        rows.append(
            [
                side,
                rps.text() if rps else "-",
                f"{median(lambda c: c.wrk.p50_ms):.1f}",
                f"{median(lambda c: c.wrk.p99_ms):.1f}",
                f"{median(lambda c: c.db_commands_per_request or 0.0):.2f}",
                f"{median(lambda c: c.per_request(c.lookups.get('miss', 0.0))):.2f}",
                " + ".join(f"{ms:.1f}" for ms in cpu),
                f"{median(lambda c: c.cpu.busy):.0%} ({max(c.cpu.others for c in mine):.0%})",
                str(sum(c.wrk.failures for c in mine)),
            ]
        )
    header = ["scenario", "req/s median (min-max)", "p50 ms", "p99 ms", "db cmds/req"]
    header += ["cache miss/req", "cpu ms/req app+mongo+redis+client", "cpus busy (others)"]
    lines += [*common.table([*header, "failed"], rows), ""]
    lines += [
        "warm: taskql on cache-read; cold: taskql on cache-cold, each request's cache entries",
        "retired first (a new owner generation, the user entry deleted); disabled:",
        "taskql-nocache on cache-read. p50/p99: medians over repeats; cpu: per request the",
        "server executed, of the app, the MongoDB and Redis processes and the load generator;",
        "cpus busy: the whole machine; (others): processes outside the bench, the most in any",
        "repeat.",
        "",
        "Requests per second, ratio within each repeat, median (min-max):",
        "",
    ]
    rps_by = {side: {c.repeat: c.wrk.rps for c in mine} for side, mine in runs.items()}
    for top, bottom in RATIOS:
        if top in rps_by and bottom in rps_by:
            ratio = ratio_text(ratios_by_repeat(rps_by[top], rps_by[bottom]))
            lines.append(f"- {top}/{bottom}: {ratio}")
    return lines, _problems(runs, reads)


def _problems(runs: Mapping[str, Sequence[Cell]], reads: Sequence[SingleRead]) -> list[str]:
    cold_lookups = sum(reads[0][2].values()) if reads and reads[0][0].startswith("cold") else 0
    problems = []
    for side, mine in runs.items():
        for cell in mine:
            hits, misses = cell.lookups.get("hit", 0.0), cell.lookups.get("miss", 0.0)
            where = f"cache {side}, repeat {cell.repeat}:"
            if cell.lookups.get("error"):
                problems.append(f"{where} {cell.lookups['error']:g} cache lookups failed")
            all_missed = not cold_lookups or misses == cold_lookups * cell.executed
            if side == "cold" and (hits or not all_missed):
                problems.append(f"{where} not cold: {hits:g} hits, {misses:g} misses")
            if side == "warm" and misses > 0.01 * (hits + misses):
                problems.append(f"{where} not warm: {hits:g} hits, {misses:g} misses")
            if side == "disabled" and hits + misses:
                problems.append(f"{where} the cache answered {hits + misses:g} lookups")
    return problems
