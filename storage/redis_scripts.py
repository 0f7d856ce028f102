"""Lua scripts queued in pipelines by their SHA, on one node or a cluster.

redis-py's own `Script` in a single-node pipeline asks `SCRIPT EXISTS` before every
execution (one more round trip per pipeline), and in a cluster pipeline does not load a
missing script at all. Here a pipeline sends `EVALSHA` alone; a node that lacks a script
(a fresh cluster, a promoted replica, a restarted Redis) answers NOSCRIPT once, and the
scripts are loaded on every master before the pipeline runs again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import NoScriptError

from storage.redis import RedisClient


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 -- Redis names scripts by SHA-1

    def queue(self, pipe: Any, *, keys: Sequence[str], args: Sequence[Any]) -> None:
        # A cluster pipeline refuses `evalsha()` itself, but routes the raw command by its keys.
        pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


async def load_scripts(client: RedisClient, scripts: Sequence[LuaScript]) -> None:
    for script in scripts:
        await client.script_load(script.source)  # on a cluster: every master


async def run_pipeline(
    client: RedisClient, build: Callable[[Any], None], *, scripts: Sequence[LuaScript]
) -> list[Any]:
    """Runs the commands `build(pipe)` queues in one round trip per node."""
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        build(pipe)
        try:
            return list(await pipe.execute())
        except NoScriptError:
            if attempt:
                raise
            await load_scripts(client, scripts)
    raise AssertionError("unreachable")


async def run_script(
    client: RedisClient, script: LuaScript, *, keys: Sequence[str], args: Sequence[Any]
) -> Any:
    """One script alone, by its SHA (loaded on every master first when a node lacks it)."""
    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        await load_scripts(client, [script])
        return await client.evalsha(script.sha, len(keys), *keys, *args)
