"""The executed lane: a page of the viewer's tasks built from the object cache in front of
Strawberry, with every feature the full path has (the token verified, the query priced,
charged and refunded to its actual cost, metrics, the log line).

A document is taken here once the full path has answered it without errors (so it is valid
against the schema and its limits) and its page plan covers it (schema/compiled/page_plan.py).
Then, for each request: its variables and arguments coerced as graphql-core coerces them, its
cost priced, one Redis script reading the owner's generation, the cached page and the owner's
profile (one slot: the owner's hash tag), the data built from their JSON, its actual cost
walked, and the budget settled in one decision (`Budget.settle`). Where the response cache is
on, the response is kept there under the generation read with the page, and the fast lane
learns it.

Anything else takes the full path, which answers as before: an unseen or uncovered document,
a refused variable or argument, a cost over the tier's limit, a page or profile not cached
under the current generation, a flag that needs a boundary probe, a refused charge (the full
path refuses it with THROTTLED), Redis away.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from beanie import PydanticObjectId
from graphql import GraphQLSchema, parse

from cost.actual import actual_cost
from cost.budget import Budget
from cost.model import CostModel
from cost.operation import Operation
from cost.pricing import requested_cost
from cost.tiers import Tier, caller_for
from loaders.cache import GENERATION_TTL_MS, ObjectCache
from loaders.cache_connection import new_generation
from loaders.cache_keys import CacheKeys, CacheKind, payload_if_current
from loaders.cache_scripts import READ_SCRIPT
from loaders.task import digest as list_digest
from models.task_query import TaskPageQuery
from schema.compiled.page_plan import NeedsRead, PagePlan, compile_page_plan
from schema.compiled.plan import NotCovered
from schema.extensions.query_cost import cost_extensions, rate_limit_values
from schema.extensions.response_cache import response_digest, response_entry, response_key
from schema.recently_used import RecentlyUsed
from storage.redis_multiplexer import MultiplexedRedis
from transport.context import Viewer
from transport.fast_lane import FastAnswer, FastLane, run_owned_script

log = logging.getLogger("taskql.lane")

DEFAULT_CAPACITY = 1_000
_NAMES = CacheKeys(0)  # key names for routing (they do not depend on the epoch)


@dataclass(frozen=True)
class LaneData:
    """What the lane built, before any charge (verify mode compares it with the full path's)."""

    data: dict[str, Any]
    requested: int
    actual: int
    tier: Tier
    owner: PydanticObjectId
    generation: bytes


class ExecutedLane:
    def __init__(
        self,
        schema: GraphQLSchema,
        model: CostModel,
        tiers: Mapping[str, Tier],
        *,
        multiplexed: MultiplexedRedis | None = None,
        fast_lane: FastLane | None = None,
        response_cache: bool = False,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.schema = schema
        self.model = model
        self.tiers = tiers
        self.multiplexed = multiplexed
        self.fast_lane = fast_lane
        self.response_cache = response_cache
        # (document text, operation name) to its plan; None: not covered.
        self.plans: RecentlyUsed[tuple[str, str | None], PagePlan | None] = RecentlyUsed(capacity)

    def learn(self, query: str, operation_name: str | None) -> None:
        """After the full path answered this query without errors."""
        key = (query, operation_name)
        if key in self.plans:
            return
        try:
            plan: PagePlan | None = compile_page_plan(self.schema, parse(query), operation_name)
        except NotCovered as reason:
            log.debug("not for the lane: %s", reason)
            plan = None
        self.plans.put(key, plan)

    async def build(
        self,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        viewer: Viewer,
        cache: ObjectCache,
    ) -> LaneData | None:
        """The data of a covered page query, priced; None: take the full path."""
        owner = viewer.id
        plan = self.plans.get((query, operation_name))
        if owner is None or plan is None:
            return None
        page_query = plan.page_query(self.schema, owner, variables)
        if page_query is None:
            return None
        operation = Operation(
            self.schema, plan.document, operation_name=operation_name, variables=variables
        )
        requested = requested_cost(operation, self.model)
        tier = caller_for(self.tiers, user_id=str(owner), user_tier=viewer.tier, address="").tier
        if requested > tier.max_query:
            return None
        read = await self._read(cache, page_query, owner_too=plan.needs_owner)
        if read is None:
            return None
        generation, page, profile = read
        try:
            data = plan.data(page_query, page, profile, viewer=owner)
        except NeedsRead:
            return None
        cache.counted_hit(CacheKind.TASK_LIST)
        if profile is not None:
            cache.counted_hit(CacheKind.USER)
        actual = min(actual_cost(operation, self.model, data=data), requested)
        return LaneData(data, requested, actual, tier, owner, generation)

    async def answer(
        self,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        viewer: Viewer,
        cache: ObjectCache,
        budget: Budget,
    ) -> FastAnswer | None:
        """The response, charged; None: take the full path."""
        built = await self.build(
            query=query,
            operation_name=operation_name,
            variables=variables,
            viewer=viewer,
            cache=cache,
        )
        if built is None:
            return None
        caller = caller_for(self.tiers, user_id=str(built.owner), user_tier=viewer.tier, address="")
        state = await budget.settle(caller, requested=built.requested, actual=built.actual)
        if not state.allowed:
            return None
        data = orjson.dumps(built.data)
        if self.response_cache:
            await self._keep(
                cache, built, data, query=query, operation_name=operation_name, variables=variables
            )
        extensions = cost_extensions(
            built.tier, requested=built.requested, actual=built.actual, state=state
        )
        body = orjson.dumps({"data": orjson.Fragment(data), "extensions": extensions})
        return FastAnswer(body, rate_limit_values(built.tier, state), built.requested, built.actual)

    async def _read(
        self, cache: ObjectCache, query: TaskPageQuery, *, owner_too: bool
    ) -> tuple[bytes, dict[str, Any], list[Any] | None] | None:
        """The owner's generation, the cached page under it and, `owner_too`, the owner's
        profile; None where one of them is not cached (or Redis did not answer)."""
        owner = query.owner_id
        page_name = list_digest("page", query)
        used: list[CacheKeys] = []  # the epoch the keys were named under

        def read(keys: CacheKeys) -> tuple[list[str], list[Any]]:
            used.append(keys)
            names = [keys.generation(owner), keys.task_list(owner, page_name)]
            if owner_too:
                names.append(keys.user(owner))
            return names, [new_generation(), GENERATION_TTL_MS]

        reply = await run_owned_script(
            cache, self.multiplexed, _NAMES.generation(owner), READ_SCRIPT, read
        )
        if not reply or not used:
            return None
        keys = used[-1]
        generation, page_value, *profile_value = reply
        page = None if page_value is None else keys.unstamp(page_value)
        payload = None if page is None else payload_if_current(page, generation)
        if generation is None or payload is None:
            return None
        profile = None
        if owner_too:
            profile = None if profile_value[0] is None else keys.unstamp(profile_value[0])
            if profile is None:
                return None
        return (
            generation,
            orjson.loads(payload),
            None if profile is None else orjson.loads(profile),
        )

    async def _keep(
        self,
        cache: ObjectCache,
        built: LaneData,
        data: bytes,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> None:
        """The response kept as the response cache keeps it, for the fast lane next time."""
        digest = response_digest(query, operation_name, variables)
        await cache.keep_owned_entry(
            CacheKind.RESPONSE,
            (built.owner, digest),
            response_entry(built.actual, data),
            generation=built.generation,
            key_of=response_key,
        )
        if self.fast_lane is not None:
            self.fast_lane.remember(digest, built.requested)
