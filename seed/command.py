"""`python server.py seed`: fill the configured MongoDB with demo users and their tasks.

Seeding needs a database that outlives the command: MONGODB_URL (and MONGODB_DB) name it.
Without MONGODB_URL there is only an embedded database, gone when this process ends, so the
command refuses and says how to get a shared one. Expected failures print one line and exit
with 1 (database) or 2 (usage); nothing prints a traceback. Seeding writes to MongoDB
directly, past events and caches: see `seed.load` for what that means.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from pymongo.errors import ConfigurationError, ConnectionFailure, PyMongoError
from redis.exceptions import RedisError

from auth.credentials import CredentialRuleError, check_email, check_password
from auth.passwords import hash_password
from loaders.cache_connection import retire_every_entry
from models import DOCUMENT_MODELS, ensure_indexes
from seed.generate import DEFAULT_RANDOM_SEED, SeedPlan, demo_email
from seed.load import SeedResult, load_demo_data, remove_demo_users
from settings import load_settings
from storage.mongo import create_mongo_client, init_models
from storage.redis import create_redis_client

# Every demo user signs in with this unless --password says otherwise.
DEMO_PASSWORD = "taskql-demo-password"  # noqa: S105 -- public by design, printed by every run
MAX_USERS = 1_000_000
MAX_TASKS_PER_USER = 100_000

NO_DATABASE = (
    "taskql seed: MONGODB_URL is unset, and an embedded database ends with this command. "
    "Run `python server.py services` (or `make services`) and export the MONGODB_URL and "
    "REDIS_URL it prints, for both `seed` and `serve`."
)
PRODUCTION = (
    "taskql seed: TASKQL_ENV is production and demo users share a known password; "
    "pass --allow-production to seed anyway."
)


@dataclass(frozen=True)
class SeedOutcome:
    result: SeedResult
    removed: int
    seconds: float


def add_seed_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `seed` subcommand and its options, handled by `run`."""
    parser = commands.add_parser(
        "seed",
        help="fill the database at MONGODB_URL (MONGODB_DB) with demo users and tasks",
        description="Insert demo users, each with realistic tasks. Users whose email exists "
        "already are skipped with their tasks, so running it again adds nothing.",
    )
    parser.add_argument(
        "--users", type=_count(1, MAX_USERS), default=10, help="demo users (default 10)"
    )
    parser.add_argument(
        "--tasks-per-user",
        type=_count(0, MAX_TASKS_PER_USER),
        default=100,
        help="tasks per new user (default 100)",
    )
    parser.add_argument(
        "--random-seed",
        type=int,
        default=DEFAULT_RANDOM_SEED,
        help=f"the same seed gives the same data (default {DEFAULT_RANDOM_SEED})",
    )
    parser.add_argument(
        "--email-prefix",
        type=_email_prefix,
        default="demo",
        help="users are PREFIX-1@example.com ... PREFIX-N@example.com (default demo)",
    )
    parser.add_argument(
        "--password",
        type=_password,
        default=DEMO_PASSWORD,
        help=f"every demo user's password (default {DEMO_PASSWORD})",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="first delete these demo users (PREFIX-1 ... PREFIX-N) with their tasks and tokens",
    )
    parser.add_argument(
        "--allow-production", action="store_true", help="seed even when TASKQL_ENV=production"
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> None:
    settings = load_settings(command="taskql seed")
    if settings.mongodb_url is None:
        _refuse(NO_DATABASE, status=2)
    if settings.is_production and not arguments.allow_production:
        _refuse(PRODUCTION, status=2)
    plan = SeedPlan(
        users=arguments.users,
        tasks_per_user=arguments.tasks_per_user,
        now=_now(),
        random_seed=arguments.random_seed,
        email_prefix=arguments.email_prefix,
    )
    seeding = _seed(
        settings.mongodb_url,
        redis_url=settings.redis_url,
        database=settings.mongodb_db,
        plan=plan,
        password=arguments.password,
        reset=arguments.reset,
    )
    try:
        outcome = asyncio.run(seeding)
    except ConnectionFailure as error:
        _refuse(f"taskql seed: cannot reach MongoDB at MONGODB_URL: {_first_clause(error)}")
    except ConfigurationError as error:
        _refuse(f"taskql seed: MONGODB_URL is not usable: {_first_clause(error)}")
    except PyMongoError as error:  # e.g. authentication or authorisation failed
        _refuse(f"taskql seed: MongoDB failed: {_first_clause(error)}")
    except KeyboardInterrupt:
        _refuse("taskql seed: interrupted; some data may be written (--reset starts over)", 130)
    _report(outcome, plan=plan, database=settings.mongodb_db, password=arguments.password)


async def _seed(
    url: str,
    *,
    redis_url: str | None,
    database: str,
    plan: SeedPlan,
    password: str,
    reset: bool,
) -> SeedOutcome:
    started = time.perf_counter()
    client = create_mongo_client(url)
    try:
        await init_models(client, database=database, models=DOCUMENT_MODELS)
        await ensure_indexes()
        removed = await remove_demo_users(plan) if reset else 0
        # Argon2id is slow by design: one hash, shared by every demo user.
        password_hash = await hash_password(password)
        result = await load_demo_data(plan, password_hash=password_hash)
    finally:
        await client.close()
    if redis_url is not None:
        await _retire_cache(redis_url)
    return SeedOutcome(result=result, removed=removed, seconds=time.perf_counter() - started)


async def _retire_cache(redis_url: str) -> None:
    """Seeding bypasses the servers' write-through, so nothing they cached may outlive it."""
    redis = create_redis_client(redis_url, timeout=2.0)  # off the request path
    try:
        await retire_every_entry(redis)
    except (RedisError, OSError) as error:
        sys.stderr.write(
            f"taskql seed: could not retire the object cache at REDIS_URL ({error}); "
            "running servers may serve entries older than the seed for up to 15 minutes\n"
        )
    finally:
        await redis.aclose()


def _report(outcome: SeedOutcome, *, plan: SeedPlan, database: str, password: str) -> None:
    result = outcome.result
    statuses = ", ".join(f"{status} {n}" for status, n in result.tasks_by_status.items())
    rate = result.tasks_created / outcome.seconds if outcome.seconds > 0 else 0.0
    first = demo_email(1, prefix=plan.email_prefix)
    last = demo_email(plan.users, prefix=plan.email_prefix)
    # A password of one's own stays off the terminal (and out of CI logs).
    shown = DEMO_PASSWORD if password == DEMO_PASSWORD else "as given with --password"
    lines = [f"database: {database}"]
    if outcome.removed:
        lines.append(f"users removed first (--reset): {outcome.removed}")
    lines += [
        f"users created: {result.users_created}",
        f"users skipped (email taken, --reset recreates them): {result.users_skipped}",
        f"tasks created: {result.tasks_created} ({statuses})",
        f"elapsed: {outcome.seconds:.2f} s ({rate:,.0f} tasks/s)",
        f"sign in: {first}" + (f" to {last}" if plan.users > 1 else "") + f", password: {shown}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def _refuse(message: str, status: int = 1) -> NoReturn:
    sys.stderr.write(message + "\n")
    raise SystemExit(status)


def _first_clause(error: Exception) -> str:
    # PyMongo appends the whole topology description after ", Timeout:": noise for people.
    return str(error).split(", Timeout:")[0]


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _count(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be {minimum} to {maximum:,}")
        return value

    return parse


def _email_prefix(text: str) -> str:
    prefix = text.strip().lower()
    try:
        check_email(demo_email(MAX_USERS, prefix=prefix))
    except CredentialRuleError:
        raise argparse.ArgumentTypeError(f"{text!r} makes no valid email address") from None
    return prefix


def _password(text: str) -> str:
    try:
        return check_password(text)
    except CredentialRuleError as error:
        raise argparse.ArgumentTypeError(error.message) from None
