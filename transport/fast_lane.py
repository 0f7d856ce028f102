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
falls back to the process's buckets), a cost over the tier's limit, and what the middleware
in front (transport/fast_front.py) does not bring here (`GraphQL-Cost: validate`, a batch, a
GET, a persisted-query hash, a browser's CORS request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from beanie import PydanticObjectId

from cost.budget import bucket_key
from cost.gcra import LUA_FUNCTION, state_from_reply
from cost.tiers import Tier, caller_for
from loaders.cache import ObjectCache
from loaders.cache_keys import CacheKeys, CacheKind
from loaders.cache_scripts import CURRENT_ENTRY_FUNCTION
from schema.context import Context
from schema.extensions.query_cost import cost_extensions, rate_limit_values
from schema.extensions.response_cache import response_digest
from schema.recently_used import RecentlyUsed
from storage.redis import RedisClient
from storage.redis_multiplexer import MultiplexedRedis
from storage.redis_scripts import LuaScript, run_script
from transport.context import Viewer
from transport.results import Outcome

DEFAULT_CAPACITY = 10_000

# KEYS: the owner's generation, the cached response, the user's bucket.
# ARGV: the epoch's stamp, the requested cost, the tier's capacity and restore rate.
# A cached response is: stamp, generation, `|`, actual cost, `|`, data.
HIT = LuaScript(
    LUA_FUNCTION
    + CURRENT_ENTRY_FUNCTION
    + """
local value, head = current_entry(KEYS[1], KEYS[2], ARGV[1])
if not value then return {0} end
local bar = string.find(value, '|', head + 1, true)
if not bar then return {0} end
local requested = tonumber(ARGV[2])
local actual = math.min(tonumber(string.sub(value, head + 1, bar - 1)), requested)
local state = gcra(KEYS[3], 'charge', actual, requested, tonumber(ARGV[3]), tonumber(ARGV[4]))
if state[1] ~= 1 then return {0} end
return {1, state[1], state[2], state[3], state[4], actual, string.sub(value, bar + 1)}
"""
)
_NAMES = CacheKeys(0)  # key names for routing (they do not depend on the epoch)


@dataclass(frozen=True)
class FastAnswer:
    body: bytes  # the whole response
    rate_limit: tuple[str, str]  # the RateLimit-Policy and RateLimit headers
    requested: int
    actual: int


class FastLane:
    def __init__(
        self,
        tiers: Mapping[str, Tier],
        *,
        multiplexed: MultiplexedRedis | None = None,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self.tiers = tiers
        # The script's connection on a single Redis (storage/redis_multiplexer.py); else the
        # object cache's client through its guard.
        self.multiplexed = multiplexed
        # A response digest to the requested cost the full path priced.
        self.known: RecentlyUsed[str, int] = RecentlyUsed(capacity)

    def learn(self, context: Context, executed: Outcome) -> None:
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

    async def answer(
        self,
        *,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        viewer: Viewer,
        cache: ObjectCache,
    ) -> FastAnswer | None:
        """The cached response, charged; None: take the full path."""
        owner = viewer.id
        if owner is None:
            return None
        digest = response_digest(query, operation_name, variables)
        requested = self.known.get(digest)
        if requested is None:
            return None
        caller = caller_for(self.tiers, user_id=str(owner), user_tier=viewer.tier, address="")
        tier = caller.tier
        if requested > tier.max_query:
            return None
        route, bucket = _route(owner), bucket_key(caller)

        def hit(keys: CacheKeys) -> tuple[list[str], list[Any]]:
            return (
                [keys.generation(owner), keys.response(owner, digest), bucket],
                [keys.stamp(b""), requested, tier.capacity, tier.restore_rate],
            )

        reply = await run_owned_script(cache, self.multiplexed, route, HIT, hit)
        if not reply or int(reply[0]) != 1:
            return None
        state = state_from_reply(reply[1:5])
        actual = int(reply[5])
        cache.counted_hit(CacheKind.RESPONSE)
        extensions = cost_extensions(tier, requested=requested, actual=actual, state=state)
        body = orjson.dumps({"data": orjson.Fragment(reply[6]), "extensions": extensions})
        return FastAnswer(body, rate_limit_values(tier, state), requested, actual)

    def remember(self, digest: str, requested: int) -> None:
        """A response another lane kept in the response cache, with its requested cost."""
        self.known.put(digest, requested)


async def run_owned_script(
    cache: ObjectCache,
    multiplexed: MultiplexedRedis | None,
    route: str,
    script: LuaScript,
    build: Callable[[CacheKeys], tuple[list[str], list[Any]]],
) -> list[Any] | None:
    """A script on one owner's keys (`build` names them, with its arguments, for the cache's
    current epoch): on the shared connection of a single Redis, else the object cache's
    client through its guard. None where Redis is not to be asked or did not answer."""
    if multiplexed is None:

        async def on_client(redis: RedisClient, keys: CacheKeys) -> list[Any]:
            script_keys, args = build(keys)
            return list(await run_script(redis, script, keys=script_keys, args=args))

        return await cache.connection.call([route], on_client)
    keys = await cache.connection.keys_if_allowed([route])
    if keys is None:
        return None
    # None: the full path meets the same node through the guard.
    return await multiplexed.evalsha_or_none(script, *build(keys))


def _route(owner: PydanticObjectId) -> str:
    return _NAMES.generation(owner)
