"""The fast lane: a repeated read answered from the response cache in one Redis round trip,
without Strawberry.

A read that ran once through the full path, priced and its response kept by the response
cache (schema/extensions/response_cache.py), is remembered here by the response cache's
digest of its exact request (document text, operation name, variables) with its requested
cost. The same request from a signed-in user then goes straight to one Redis script that
checks the cache epoch and the owner's generation, reads the cached response with its actual
cost, and charges the user's budget: the requested cost must fit and the actual cost is
taken, which is where the full path's charge and refund leave the bucket. The script's keys
share the user's hash tag (one Cluster slot).

Anything else takes the full path, which answers exactly as before: a request not seen yet,
a miss, a refused charge (the full path refuses it with THROTTLED), Redis away (the full path
falls back to the process's buckets), `GraphQL-Cost: validate`, a cost over the tier's limit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
from beanie import PydanticObjectId

from cost.budget import bucket_key
from cost.gcra import LUA_FUNCTION, state_from_reply
from cost.tiers import Tier, caller_for
from loaders.cache_keys import CacheKeys, CacheKind
from schema.context import Context
from schema.extensions.query_cost import cost_extensions, rate_limit_headers, validate_only
from schema.extensions.response_cache import response_digest
from storage.redis import RedisClient
from storage.redis_scripts import LuaScript, run_pipeline
from transport.payload import OperationRequest
from transport.results import Outcome

DEFAULT_CAPACITY = 10_000

# KEYS: the owner's generation, the cached response, the user's bucket.
# ARGV: the epoch's stamp, the requested cost, the tier's capacity and restore rate.
# A cached response is: stamp, generation, `|`, actual cost, `|`, data.
HIT = LuaScript(
    LUA_FUNCTION
    + """
local generation = redis.call('GET', KEYS[1])
if not generation then return {0} end
local value = redis.call('GET', KEYS[2])
if not value then return {0} end
local head = ARGV[1] .. generation .. '|'
if string.sub(value, 1, #head) ~= head then return {0} end
local bar = string.find(value, '|', #head + 1, true)
if not bar then return {0} end
local requested = tonumber(ARGV[2])
local actual = math.min(tonumber(string.sub(value, #head + 1, bar - 1)), requested)
local state = gcra(KEYS[3], 'charge', actual, requested, tonumber(ARGV[3]), tonumber(ARGV[4]))
if state[1] ~= 1 then return {0} end
return {1, state[1], state[2], state[3], state[4], actual, string.sub(value, bar + 1)}
"""
)
_NAMES = CacheKeys(0)  # key names for routing (they do not depend on the epoch)


class KnownReads:
    """Least-recently-used map of a response digest to the requested cost the full path priced."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._requested: OrderedDict[str, int] = OrderedDict()

    def get(self, digest: str) -> int | None:
        requested = self._requested.get(digest)
        if requested is not None:
            self._requested.move_to_end(digest)
        return requested

    def put(self, digest: str, requested: int) -> None:
        self._requested[digest] = requested
        self._requested.move_to_end(digest)
        while len(self._requested) > self.capacity:
            self._requested.popitem(last=False)

    def __len__(self) -> int:
        return len(self._requested)


class FastLane:
    def __init__(self, tiers: Mapping[str, Tier], *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.tiers = tiers
        self.known = KnownReads(capacity)

    def learn(self, operation: OperationRequest, context: Context, executed: Outcome) -> None:
        """After the full path: a read whose response the cache keeps is taken here next time."""
        if (
            context.response_digest is None
            or context.cost_report is None
            or context.operation_type != "query"
            or executed.status != 200
            or "errors" in executed.body
        ):
            return
        self.known.put(context.response_digest, context.cost_report[0])

    async def answer(self, operation: OperationRequest, context: Context) -> Outcome | None:
        """The cached response, charged; None: take the full path."""
        owner = context.viewer_id
        if owner is None:
            return None
        if operation.query is None or validate_only(context):
            return None
        digest = response_digest(operation.query, operation.operation_name, operation.variables)
        requested = self.known.get(digest)
        if requested is None:
            return None
        caller = caller_for(
            self.tiers,
            user_id=str(owner),
            user_tier=context.viewer_tier,
            address=context.client_address,
        )
        tier = caller.tier
        if requested > tier.max_query:
            return None
        bucket = bucket_key(caller)

        async def read_and_charge(redis: RedisClient, keys: CacheKeys) -> list[Any]:
            def build(pipe: Any) -> None:
                HIT.queue(
                    pipe,
                    keys=[keys.generation(owner), keys.response(owner, digest), bucket],
                    args=[keys.stamp(b""), requested, tier.capacity, tier.restore_rate],
                )

            (reply,) = await run_pipeline(redis, build, scripts=[HIT])
            return list(reply)

        reply = await context.cache.connection.call([_route(owner)], read_and_charge)
        if not reply or int(reply[0]) != 1:
            return None
        state = state_from_reply(reply[1:5])
        actual = int(reply[5])
        context.cache.counted_hit(CacheKind.RESPONSE)
        context.metrics.fast_lane_answers.inc()
        context.operation_type = "query"
        context.cost_report = (requested, actual)
        context.metrics.query_cost.labels(kind="requested").observe(requested)
        context.metrics.query_cost.labels(kind="actual").observe(actual)
        if context.response_headers is not None:
            rate_limit_headers(context.response_headers, tier, state)
        body = {
            "data": orjson.Fragment(reply[6]),
            "extensions": cost_extensions(tier, requested=requested, actual=actual, state=state),
        }
        return Outcome(body=body, status=200)


def _route(owner: PydanticObjectId) -> str:
    return _NAMES.generation(owner)
