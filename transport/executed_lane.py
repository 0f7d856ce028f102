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

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLSchema, parse

from cost.actual import actual_cost
from cost.budget import Budget, bucket_key
from cost.gcra import LUA_FUNCTION, BucketState, state_from_reply
from cost.model import CostModel
from cost.operation import Operation
from cost.pricing import requested_cost
from cost.tiers import Caller, Tier, caller_for
from loaders import codecs
from loaders.cache import GENERATION_TTL_MS, ObjectCache
from loaders.cache_connection import new_generation
from loaders.cache_keys import CacheKeys, CacheKind, payload_if_current
from loaders.cache_scripts import CURRENT_ENTRY_FUNCTION, READ_SCRIPT
from loaders.task import digest as list_digest
from models.task_query import TaskPageQuery
from models.task_reads import find_task_page
from models.user import find_user_profiles
from observability.db_commands import commands_for_request
from schema.compiled.page_plan import NeedsRead, PagePlan, Sizes, compile_page_plan
from schema.compiled.plan import NotCovered
from schema.extensions.query_cost import cost_extensions, rate_limit_values
from schema.extensions.response_cache import response_digest, response_entry, response_key
from schema.recently_used import RecentlyUsed
from storage.redis_multiplexer import MultiplexedRedis
from storage.redis_scripts import LuaScript
from transport.context import Viewer
from transport.fast_lane import FastAnswer, FastLane, run_owned_script

log = logging.getLogger("taskql.lane")

DEFAULT_CAPACITY = 1_000
_NAMES = CacheKeys(0)  # key names for routing (they do not depend on the epoch)


# KEYS: the owner's generation, the cached page, the user's bucket, the owner's profile
# (optional). ARGV: the epoch's stamp, the requested cost, the tier's capacity and restore
# rate, the actual cost's a and b (a + b x tasks; a cached page starts with its count of
# tasks, loaders/codecs.py).
# Reply: {0} not cached or refused; else 1, the bucket state (4), the actual cost, the
# generation, the page, the profile.
PAGE_AND_CHARGE = LuaScript(
    LUA_FUNCTION
    + CURRENT_ENTRY_FUNCTION
    + """
local page, head, generation = current_entry(KEYS[1], KEYS[2], ARGV[1])
if not page then return {0} end
local profile = false
if KEYS[4] then
  profile = redis.call('GET', KEYS[4])
  if (not profile) or string.sub(profile, 1, #ARGV[1]) ~= ARGV[1] then return {0} end
  profile = string.sub(profile, #ARGV[1] + 1)
end
local tasks = tonumber(string.match(page, '^{"n":(%d+)', head + 1))
if not tasks then return {0} end
local requested = tonumber(ARGV[2])
local actual = math.min(tonumber(ARGV[5]) + tonumber(ARGV[6]) * tasks, requested)
local state = gcra(KEYS[3], 'charge', actual, requested, tonumber(ARGV[3]), tonumber(ARGV[4]))
if state[1] ~= 1 then return {0} end
return {1, state[1], state[2], state[3], state[4], actual, generation,
        string.sub(page, head + 1), profile}
"""
)


@dataclass(frozen=True)
class Asked:
    """A request the lane covers, before anything is read: its plan, page and prices."""

    plan: PagePlan
    query: TaskPageQuery
    sizes: Sizes
    caller: Caller
    requested: int
    text: str
    operation_name: str | None
    variables: dict[str, Any] | None


@dataclass(frozen=True)
class LaneData:
    """What the lane built, before any charge (verify mode compares it with the full path's)."""

    data: dict[str, Any]
    requested: int
    actual: int
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
        from_cache: bool = True,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.schema = schema
        self.model = model
        self.tiers = tiers
        self.multiplexed = multiplexed
        self.fast_lane = fast_lane
        self.response_cache = response_cache
        # False: the object cache is off, pages are read from MongoDB (one page, one owner).
        self.from_cache = from_cache
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

    def asked(
        self,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        viewer: Viewer,
    ) -> Asked | None:
        """The covered request, priced; None: take the full path."""
        owner = viewer.id
        plan = self.plans.get((query, operation_name))
        if owner is None or plan is None:
            return None
        page = plan.page_query(self.schema, owner, variables)
        if page is None:
            return None
        page_query, sizes = page
        requested = plan.requested.get(sizes)
        if requested is None:
            operation = self._operation(plan, operation_name, variables)
            requested = plan.requested[sizes] = requested_cost(operation, self.model)
        caller = caller_for(self.tiers, user_id=str(owner), user_tier=viewer.tier, address="")
        if requested > caller.tier.max_query:
            return None
        return Asked(plan, page_query, sizes, caller, requested, query, operation_name, variables)

    async def build(self, asked: Asked, cache: ObjectCache) -> LaneData | None:
        """The data from the cached page and profile (from MongoDB where the object cache is
        off), not charged; None: take the full path."""
        if self.from_cache:
            read = await self._read(cache, asked.query, owner_too=asked.plan.needs_owner)
        else:
            read = await self._read_database(asked)
        if read is None:
            return None
        generation, page, profile = read
        try:
            data = asked.plan.data(asked.query, page, profile, viewer=asked.query.owner_id)
        except NeedsRead:
            return None
        if self.from_cache:
            self._counted(cache, profile)
        actual = self._actual(asked, page, profile, data)
        return LaneData(data, asked.requested, actual, generation)

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
        asked = self.asked(
            query=query, operation_name=operation_name, variables=variables, viewer=viewer
        )
        if asked is None:
            return None
        coefficients = asked.plan.actual.get(asked.sizes)
        if coefficients is None or asked.plan.may_probe(asked.query) or not self.from_cache:
            # First sight of these sizes (the actual cost is walked once), or a flag that may
            # need a probe: read, build, then charge.
            built = await self.build(asked, cache)
            if built is None:
                return None
            state = await budget.settle(
                asked.caller, requested=asked.requested, actual=built.actual
            )
            if not state.allowed:
                return None
        else:
            charged = await self._read_and_charge(cache, asked, coefficients)
            if charged is None:
                return None
            built, state = charged
        data = orjson.dumps(built.data)
        if self.response_cache and self.from_cache:
            await self._keep(cache, asked, built, data)
        tier = asked.caller.tier
        extensions = cost_extensions(
            tier, requested=asked.requested, actual=built.actual, state=state
        )
        body = orjson.dumps({"data": orjson.Fragment(data), "extensions": extensions})
        return FastAnswer(body, rate_limit_values(tier, state), asked.requested, built.actual)

    def _actual(
        self,
        asked: Asked,
        page: dict[str, Any],
        profile: list[Any] | None,
        data: dict[str, Any],
    ) -> int:
        """The actual cost, from the plan's (a, b) for these sizes; walked on the data of an
        empty and of a one-task page the first time."""
        tasks = page["tasks"]
        coefficients = asked.plan.actual.get(asked.sizes)
        if coefficients is None:
            operation = self._operation(asked.plan, asked.operation_name, asked.variables)
            if not tasks:
                return min(actual_cost(operation, self.model, data=data), asked.requested)
            owner = asked.query.owner_id
            empty, one = (
                asked.plan.data(asked.query, {**page, "tasks": part}, profile, viewer=owner)
                for part in (tasks[:0], tasks[:1])
            )
            a = actual_cost(operation, self.model, data=empty)
            b = actual_cost(operation, self.model, data=one) - a
            coefficients = asked.plan.actual[asked.sizes] = (a, b)
        a, b = coefficients
        return min(a + b * len(tasks), asked.requested)

    async def _read_and_charge(
        self, cache: ObjectCache, asked: Asked, coefficients: tuple[int, int]
    ) -> tuple[LaneData, BucketState] | None:
        """The page and profile read and the budget charged, in one script."""
        query, owner = asked.query, asked.query.owner_id
        page_name = list_digest("page", query)
        tier = asked.caller.tier

        def script(keys: CacheKeys) -> tuple[list[str], list[Any]]:
            names = [keys.generation(owner), keys.task_list(owner, page_name)]
            names.append(bucket_key(asked.caller))
            if asked.plan.needs_owner:
                names.append(keys.user(owner))
            return names, [
                keys.stamp(b""),
                asked.requested,
                tier.capacity,
                tier.restore_rate,
                *coefficients,
            ]

        reply = await run_owned_script(
            cache, self.multiplexed, _NAMES.generation(owner), PAGE_AND_CHARGE, script
        )
        if not reply or int(reply[0]) != 1:
            return None
        state = state_from_reply(reply[1:5])
        actual, generation, page_payload, profile_payload = reply[5:9]
        page = orjson.loads(page_payload)
        profile = None if profile_payload is None else orjson.loads(profile_payload)
        data = asked.plan.data(query, page, profile, viewer=owner)
        self._counted(cache, profile)
        return LaneData(data, asked.requested, int(actual), generation), state

    async def _read_database(
        self, asked: Asked
    ) -> tuple[bytes, dict[str, Any], list[Any] | None] | None:
        """The page and the owner's profile as the full path reads them from MongoDB, in the
        object cache's JSON (the plans read that); None where the owner is gone or MongoDB
        failed (the full path reports it)."""
        owner = asked.query.owner_id
        try:
            with commands_for_request():
                if asked.plan.needs_owner:
                    page, profiles = await asyncio.gather(
                        find_task_page(asked.query), find_user_profiles([owner])
                    )
                else:
                    page, profiles = await find_task_page(asked.query), {}
        except Exception:  # the full path runs it again and reports it
            log.warning("the executed lane's MongoDB read failed", exc_info=True)
            return None
        profile = profiles.get(owner)
        if asked.plan.needs_owner and profile is None:
            return None
        return (
            b"",
            orjson.loads(codecs.TASK_PAGE.encode(page)),
            None if profile is None else orjson.loads(codecs.USER.encode(profile)),
        )

    @staticmethod
    def _counted(cache: ObjectCache, profile: object) -> None:
        cache.counted_hit(CacheKind.TASK_LIST)
        if profile is not None:
            cache.counted_hit(CacheKind.USER)

    def _operation(
        self, plan: PagePlan, operation_name: str | None, variables: dict[str, Any] | None
    ) -> Operation:
        return Operation(
            self.schema, plan.document, operation_name=operation_name, variables=variables
        )

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

    async def _keep(self, cache: ObjectCache, asked: Asked, built: LaneData, data: bytes) -> None:
        """The response kept as the response cache keeps it, for the fast lane next time."""
        digest = response_digest(asked.text, asked.operation_name, asked.variables)
        owner = asked.query.owner_id
        await cache.keep_owned_entry(
            CacheKind.RESPONSE,
            (owner, digest),
            response_entry(built.actual, data),
            generation=built.generation,
            key_of=response_key,
        )
        if self.fast_lane is not None:
            self.fast_lane.remember(digest, asked.requested)
