"""The MongoDB emulator's cost per operation at N = 1,000 and 100,000 tasks, before and after.

    .venv/bin/python bench/emulator.py [--baseline DIR] [--sizes 1000,100000] [--budget SECONDS]

`--baseline DIR` names another checkout (e.g. `git worktree add /tmp/emu-before HEAD`) whose
emulator is measured beside this one. Each (checkout, N) runs in a process of its own with
PYTHONPATH at that checkout; it starts the emulator in-process (`start_emulator`) and drives it
through PyMongo's AsyncMongoClient, as the app does. Tasks belong to 1,000 owners, under a
unique index on (owner_id, key) and an index on (owner_id, created).

An operation that exceeds the time budget stops early: its figure is then the mean of the runs
that fitted, marked `≥` (for inserts the remaining documents are loaded without the unique index,
which is then rebuilt, so that the later operations still see N documents).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OWNERS = 1_000
BATCH = 1_000
MAX_RUNS = 200
OPERATIONS = {
    "insert": "insert_many, 1,000 docs (unique idx)",
    "find_owner": "find owner_id, sort, limit 20",
    "find_ids": "find _id $in 50 ids",
    "update": "update_one by _id",
    "find_and_modify": "find_one_and_update _id+version",
}


def _task(index: int, owners: list[Any], start: datetime) -> dict[str, Any]:
    return {
        "owner_id": owners[index % OWNERS],
        "key": f"key-{index}",
        "title": f"Task number {index}",
        "status": ("todo", "doing", "done")[index % 3],
        "tags": ["bench", f"t{index % 7}"],
        "created": start + timedelta(seconds=index),
        "version": 0,
    }


async def _timed(
    operation: Callable[[], Awaitable[Any]], *, budget: float, runs: int = MAX_RUNS
) -> dict[str, Any]:
    timings: list[float] = []
    deadline = time.perf_counter() + budget
    while len(timings) < runs and (len(timings) < 3 or time.perf_counter() < deadline):
        begin = time.perf_counter()
        await operation()
        timings.append(time.perf_counter() - begin)
    return {"ms": 1000 * sum(timings) / len(timings), "runs": len(timings), "partial": False}


async def _insert_all(collection: Any, n: int, budget: float) -> dict[str, Any]:
    from bson.objectid import ObjectId  # noqa: PLC0415 -- imported in the worker only

    rng = random.Random(7)
    owners = [ObjectId() for _ in range(OWNERS)]
    start = datetime(2024, 1, 1)
    tasks = [_task(i, owners, start) for i in range(n)]
    rng.shuffle(tasks)
    timings: list[float] = []
    deadline = time.perf_counter() + budget
    position = 0
    while position < n and time.perf_counter() < deadline:
        batch = tasks[position : position + BATCH]
        begin = time.perf_counter()
        await collection.insert_many(batch)
        timings.append(time.perf_counter() - begin)
        position += len(batch)
    partial = position < n
    if partial:
        await collection.drop_index("owner_key")
        for offset in range(position, n, BATCH):
            await collection.insert_many(tasks[offset : offset + BATCH])
        await collection.create_index([("owner_id", 1), ("key", 1)], unique=True, name="owner_key")
    ms = 1000 * sum(timings) / len(timings)
    return {"ms": ms, "runs": len(timings), "partial": partial, "owners": owners}


async def _measure(n: int, budget: float) -> dict[str, Any]:
    from pymongo import AsyncMongoClient, ReturnDocument  # noqa: PLC0415

    from storage.mongo_emulator import start_emulator  # noqa: PLC0415

    emulator = await start_emulator()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(emulator.url)
    try:
        warmup = client["bench"]["warmup"]  # first-use costs (connections, imports) go here
        await warmup.insert_many([{"n": n} for n in range(BATCH)])
        await warmup.drop()
        tasks = client["bench"]["tasks"]
        await tasks.create_index([("owner_id", 1), ("key", 1)], unique=True, name="owner_key")
        await tasks.create_index([("owner_id", 1), ("created", -1)], name="owner_created")
        inserted = await _insert_all(tasks, n, budget * 4)
        owners = inserted.pop("owners")
        ids = [doc["_id"] async for doc in tasks.find({}, {"_id": 1})]
        versions = dict.fromkeys(ids, 0)
        rng = random.Random(11)

        async def find_owner() -> None:
            cursor = tasks.find({"owner_id": rng.choice(owners)}).sort("created", -1).limit(20)
            await cursor.to_list()

        async def find_ids() -> None:
            await tasks.find({"_id": {"$in": rng.sample(ids, 50)}}).to_list()

        async def update() -> None:
            await tasks.update_one({"_id": rng.choice(ids)}, {"$set": {"status": "doing"}})

        async def find_and_modify() -> None:
            chosen = rng.choice(ids)
            found = await tasks.find_one_and_update(
                {"_id": chosen, "version": versions[chosen]},
                {"$inc": {"version": 1}, "$set": {"status": "done"}},
                return_document=ReturnDocument.AFTER,
            )
            assert found is not None, "the version condition missed"
            versions[chosen] = found["version"]

        results = {"insert": inserted}
        for name, operation in (
            ("find_owner", find_owner),
            ("find_ids", find_ids),
            ("update", update),
            ("find_and_modify", find_and_modify),
        ):
            results[name] = await _timed(operation, budget=budget)
        assert await tasks.count_documents({}) == n
        return results
    finally:
        await client.close()
        await emulator.close()


def _worker(n: int, budget: float) -> None:
    import storage.mongo_emulator  # noqa: PLC0415

    results = asyncio.run(_measure(n, budget))
    print(json.dumps({"module": storage.mongo_emulator.__file__, "results": results}))


def _run(checkout: Path, n: int, budget: float) -> dict[str, Any]:
    environment = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, __file__, "--worker", str(n), "--budget", str(budget)]
    done = subprocess.run(
        command, cwd=checkout, env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"benchmark worker failed for {checkout} at N={n}:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {n:>7,} docs: {report['module']}", file=sys.stderr)
    return report


def _cell(result: dict[str, Any] | None, n: int) -> str:
    if result is None:
        return "-"
    if result["partial"]:
        return f"≥{result['ms']:,.0f} ({result['runs']}/{n // BATCH} batches)"
    return f"{result['ms']:,.2f}"


def _table(columns: list[tuple[str, int]], reports: dict[tuple[str, int], dict[str, Any]]) -> str:
    header = ["operation (ms per op)"] + [f"{name} N={n:,}" for name, n in columns]
    rows = [header]
    for key, title in OPERATIONS.items():
        row = [title]
        for column in columns:
            row.append(_cell(reports[column]["results"].get(key), column[1]))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(" | ".join(cells))
        if number == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to measure alongside")
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated document counts")
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per operation")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker is not None:
        _worker(arguments.worker, arguments.budget)
        return
    checkouts = [("after", ROOT)]
    if arguments.baseline is not None:
        checkouts.insert(0, ("before", arguments.baseline.resolve()))
    sizes = [int(size) for size in arguments.sizes.split(",")]
    reports: dict[tuple[str, int], dict[str, Any]] = {}
    for n in sizes:
        for name, checkout in checkouts:
            print(f"measuring {name} ({checkout}) at N={n:,}...", file=sys.stderr)
            reports[(name, n)] = _run(checkout, n, arguments.budget)
    columns = [(name, n) for n in sizes for name, _ in checkouts]
    print(_table(columns, reports))
    if any(r["partial"] for report in reports.values() for r in report["results"].values()):
        print(
            f"\n≥: the insert budget ({4 * arguments.budget:g} s) ran out after the batches shown;"
            " the mean of those is a lower bound (each batch costs more than the one before)."
        )


if __name__ == "__main__":
    main()
