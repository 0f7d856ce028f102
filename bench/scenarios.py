"""The harness's scenarios (README, Benchmarks): their documents, the calls each rotates
through, and when an answer counts as taskql's. Pure: bench/workload.py builds the calls.
`cache-read` and `cache-cold` (`make bench-cache`) run only when named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

PAGE_SIZE = 50
SELECTION = (
    "edges { node { id title status owner { id name } } } pageInfo { hasNextPage endCursor }"
)
HELLO = "{ me { id name } }"
LIST = f"{{ tasks(first: {PAGE_SIZE}) {{ {SELECTION} }} }}"
PAGE = (
    f"query Page($after: String) {{ tasks(first: {PAGE_SIZE}, after: $after) {{ {SELECTION} }} }}"
)
WRITE = "mutation Write($input: UpdateTaskInput!) { updateTask(input: $input) { id version } }"
CACHE_READ = (
    f"{{ tasks(first: {PAGE_SIZE}) {{ nodes {{ owner {{ name taskCounts {{ total }} }} }} }} }}"
)
# The same selection at another page size: database commands must not grow with `first`.
SIZED = f"query Sized($first: Int!) {{ tasks(first: $first) {{ {SELECTION} }} }}"

NAMES = ("hello", "list-warm", "list-cold", "mix", "cache-read", "cache-cold")
DEFAULT_NAMES = NAMES[:4]
WRITES_PER_READS = (1, 9)  # mix: one write per nine reads


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    document: dict[str, Any] = {"query": query}
    if variables is not None:
        document["variables"] = variables
    return orjson.dumps(document)


@dataclass(frozen=True)
class Call:
    """One POST /graphql: the bearer token and the body."""

    token: str
    body: bytes
    owner: str = ""  # the user's MongoDB id (hex), for cache-cold

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}" if self.token else ""


@dataclass(frozen=True)
class Scenario:
    name: str
    calls: tuple[Call, ...]  # what the load generator rotates through
    checks: tuple[Call, ...]  # compared with taskql's answers before any timing
    compare_data: bool = True  # mix moves its data: its checks only need answers without errors
    every_connection_count: bool = False  # else only the first --connections value
    retire: bool = False  # the caller's cache entries retired before each request (not wrk)

    def connection_counts(self, counts: tuple[int, ...]) -> tuple[int, ...]:
        return counts if self.every_connection_count else counts[:1]


def disagreement(reference: bytes | None, answer: bytes, *, status: int) -> str | None:
    """Why `answer` is not taskql's: a status other than 200, errors, or other `data` (JSON-equal,
    `extensions` ignored). None when they agree; with no reference, only errors count."""
    if status != 200:
        return f"HTTP {status}: {answer[:200]!r}"
    try:
        found = orjson.loads(answer)
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        return f"not JSON (an object): {answer[:200]!r}"
    if found.get("errors"):
        return f"errors: {orjson.dumps(found['errors'])[:300].decode()}"
    if reference is None:
        return None if found.get("data") is not None else "no data"
    expected = orjson.loads(reference).get("data")
    if found.get("data") != expected:
        return f"other data: {_first_difference(expected, found.get('data'))}"
    return None


def _first_difference(expected: Any, found: Any, path: str = "data") -> str:
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in expected.keys() | found.keys():
            if expected.get(key) != found.get(key):
                return _first_difference(expected.get(key), found.get(key), f"{path}.{key}")
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return f"{path}: {len(found)} items, not {len(expected)}"
        for index, (one, other) in enumerate(zip(expected, found, strict=True)):
            if one != other:
                return _first_difference(one, other, f"{path}[{index}]")
    return f"{path} is {str(found)[:120]}, not {str(expected)[:120]}"


def interleave(groups: list[list[Call]]) -> list[Call]:
    """One call of each group in turn (user 1's page 1, user 2's page 1, ..., user 1's page 2):
    consecutive requests differ as much as they can."""
    longest = max((len(group) for group in groups), default=0)
    return [group[i] for i in range(longest) for group in groups if i < len(group)]


def evenly(calls: list[Call], count: int) -> list[Call]:
    """`count` calls spread evenly over `calls` (all of them when there are fewer)."""
    if len(calls) <= count:
        return list(calls)
    step = len(calls) / count
    return [calls[int(i * step)] for i in range(count)]
