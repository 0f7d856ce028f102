"""Reading a server's /metrics: one scrape is a dict of samples; what grew between two."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

DB_COMMANDS = "taskql_db_commands_total"
CACHE_REQUESTS = "taskql_cache_requests_total"
GRAPHQL_REQUESTS = "taskql_graphql_requests_total"


async def scrape(client: httpx.AsyncClient, base_url: str) -> Samples:
    reply = await client.get(f"{base_url}/metrics")
    reply.raise_for_status()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def grown(
    before: Samples, after: Samples, name: str, *, by: str, **labels: str
) -> dict[str, float]:
    """How much `name` grew per value of label `by`, among the series carrying `labels`."""
    growth: dict[str, float] = {}
    wanted = set(labels.items())
    for (sample, found), value in after.items():
        if sample == name and wanted <= found:
            change = value - before.get((sample, found), 0.0)
            if change:
                key = dict(found)[by]
                growth[key] = growth.get(key, 0.0) + change
    return growth


def db_commands(before: Samples, after: Samples) -> dict[str, float]:
    """MongoDB commands made for GraphQL operations, per command."""
    return grown(before, after, DB_COMMANDS, by="command", source="request")


def cache_lookups(before: Samples, after: Samples) -> dict[str, float]:
    """Object cache lookups per result (`hit`, `miss`, `error`), all kinds together."""
    return grown(before, after, CACHE_REQUESTS, by="result")


def queries_ok(before: Samples, after: Samples) -> float:
    return sum(
        grown(
            before, after, GRAPHQL_REQUESTS, by="outcome", operation_type="query", outcome="ok"
        ).values()
    )
