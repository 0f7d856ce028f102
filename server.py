"""taskql: the Starlette app, its lifespan, and the command line (`serve`, `services`, `seed`,
`schema`)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from auth.throttle import LocalCounters
from cost.budget import Budget, LocalBuckets
from cost.tiers import tiers_from
from events.bus import EventBus
from graphiql.page import graphiql_response, graphiql_routes
from loaders.cache import ObjectCache
from models import DOCUMENT_MODELS, ensure_indexes
from observability.db_commands import CommandMetrics
from observability.db_pool import PoolMetrics
from observability.health import check_readiness
from observability.logging import configure_logging
from observability.metrics import (
    MULTIPROCESS_DIRECTORY_VARIABLE,
    TaskqlMetrics,
    metrics_authorised,
    worker_metrics_directory,
)
from schema.cost_directives import cost_model_of
from schema.root import create_schema
from schema.sdl import schema_sdl
from seed.command import add_seed_command
from settings import Settings, load_settings, new_development_secret
from storage.cancellation import keep_cancellations
from storage.mongo import create_mongo_client, init_models, mongo_reachable
from storage.processes import SUPERVISOR_VARIABLE, tie_to_supervisor
from storage.redis import RedisClient, create_redis_client
from storage.redis_guard import RedisGuard
from storage.redis_multiplexer import multiplexed_for
from storage.services import provide_services
from storage.session_lease import SessionLease
from storage.transactions import Transactions
from transport.executed_lane import ExecutedLane
from transport.fast_front import FastFront
from transport.fast_lane import FastLane
from transport.going_away import PROTOCOL_PATH as WEBSOCKET_PROTOCOL
from transport.http import GraphQLOverHttp
from transport.listener import ListenError, bind_listener, listen, listener_url
from transport.persisted_queries import PersistedQueries, load_manifest
from transport.websocket import GraphQLOverWebSocket

log = logging.getLogger("taskql")


@dataclass(frozen=True)
class AppState:
    """Everything one process holds open, built in the lifespan (never at import)."""

    settings: Settings
    mongo: AsyncMongoClient[dict[str, Any]]
    redis: RedisClient
    # One breaker per Redis node, shared by every subsystem below.
    redis_guard: RedisGuard
    metrics: TaskqlMetrics
    cache: ObjectCache
    budget: Budget
    events: EventBus
    persisted: PersistedQueries
    transactions: Transactions
    login_fallback: LocalCounters = field(default_factory=LocalCounters)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.taskql
    return state


async def healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    state = app_state(request)
    readiness = await check_readiness(
        mongodb=mongo_reachable(state.mongo), redis=state.redis_guard.health()
    )
    return JSONResponse(readiness.as_json(), status_code=readiness.http_status)


async def metrics(request: Request) -> Response:
    state = app_state(request)
    authorization = request.headers.get("authorization")
    if not metrics_authorised(authorization, token=state.settings.metrics_token):
        return PlainTextResponse(
            "/metrics needs the metrics bearer token.\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings) -> Starlette:
    """The ASGI app for `settings`, whose MongoDB and Redis URLs must be set."""
    if settings.mongodb_url is None or settings.redis_url is None or not settings.jwt_secret:
        raise ValueError("create_app needs MONGODB_URL, REDIS_URL and JWT_SECRET (serve sets them)")
    mongodb_url, redis_url = settings.mongodb_url, settings.redis_url
    # Read at startup: a manifest that does not load stops the server before it serves.
    trusted = load_manifest(settings.trusted_documents) if settings.trusted_documents else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        process_metrics = TaskqlMetrics()
        mongo = create_mongo_client(
            mongodb_url,
            event_listeners=[CommandMetrics(process_metrics), PoolMetrics(process_metrics)],
        )
        redis = create_redis_client(redis_url)
        guard = RedisGuard(
            redis,
            deadline=settings.redis_timeout_ms / 1000,
            on_error=lambda kind: process_metrics.redis_errors.labels(kind=kind).inc(),
            on_nodes_down=process_metrics.redis_nodes_down.set,
        )
        lease = SessionLease(mongo[settings.mongodb_db])
        try:
            await init_models(mongo, database=settings.mongodb_db, models=DOCUMENT_MODELS)
            await ensure_indexes()
            await lease.start()
            await guard.start()
            cache = ObjectCache(
                redis if settings.cache_enabled else None, metrics=process_metrics, guard=guard
            )
            budget = Budget(
                redis,
                local=LocalBuckets(),
                guard=guard,
                multiplexed=multiplexed,
                on_local=process_metrics.ratelimit_local.inc,
            )
            events = EventBus(redis, metrics=process_metrics, guard=guard)
            events.start()
            app.state.taskql = AppState(
                settings=settings,
                mongo=mongo,
                redis=redis,
                redis_guard=guard,
                metrics=process_metrics,
                cache=cache,
                budget=budget,
                events=events,
                persisted=PersistedQueries(redis, trusted=trusted, guard=guard),
                transactions=Transactions(mongo, lease=lease),
            )
            # Everything built so far (modules, schema, plans) lives as long as the process:
            # kept out of the collector's walks, a full collection pauses requests far less
            # ({ me } at 10 connections: p99 8.3-8.8 ms -> 5.4-6.2 ms).
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                await events.close()
        finally:
            if multiplexed is not None:
                await multiplexed.close()
            await guard.close()
            await redis.aclose()
            await lease.close()
            await mongo.close()
            process_metrics.close()

    schema = create_schema(settings)
    # One connection per process for the hottest scripts (the fast lane's, the budgets') on a
    # single Redis; None for a cluster or TLS.
    multiplexed = multiplexed_for(redis_url, deadline=settings.redis_timeout_ms / 1000)
    # Repeated cached reads skip Strawberry; only where the response cache answers them.
    fast_lane = (
        FastLane(tiers_from(settings.effective_cost_tiers), multiplexed=multiplexed)
        if settings.cache_enabled and settings.response_cache_enabled
        else None
    )
    # Covered page queries run in front of Strawberry, on the object cache (or on MongoDB
    # where it is off); its plans are compiled execution: off with it, checked against the
    # full path in verify mode.
    executed_lane = (
        ExecutedLane(
            schema._schema,
            cost_model_of(schema),
            tiers_from(settings.effective_cost_tiers),
            multiplexed=multiplexed,
            fast_lane=fast_lane,
            response_cache=settings.response_cache_enabled,
            from_cache=settings.cache_enabled,
        )
        if settings.compiled_execution != "off"
        else None
    )
    http = GraphQLOverHttp(
        schema,
        graphiql=graphiql_response if settings.graphiql else None,
        fast_lane=fast_lane,
        executed_lane=executed_lane,
    )
    websocket = GraphQLOverWebSocket(
        schema,
        graphql_ide=None,
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        allowed_origins=allowed_origins(settings),
    )
    routes: list[BaseRoute] = [
        Route("/graphql", http.handle, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", websocket),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if settings.graphiql:
        routes.extend(graphiql_routes())
    # Outermost but for Starlette's error handling: a fast-lane answer skips the rest.
    middleware = (
        [
            Middleware(
                FastFront,
                lane=fast_lane,
                executed=executed_lane,
                verify=settings.compiled_execution == "verify",
            )
        ]
        if fast_lane is not None or executed_lane is not None
        else []
    )
    middleware.append(cors(settings))
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def allowed_origins(settings: Settings) -> tuple[str, ...]:
    """Browser origins allowed to call the API (HTTP and websockets): any in development."""
    if settings.cors_origins:
        return settings.cors_origins
    return () if settings.is_production else ("*",)


def cors(settings: Settings) -> Middleware:
    # Credentials travel in the Authorization header, never in cookies, so no
    # allow_credentials: a page on an allowed origin still needs the user's token.
    return Middleware(
        CORSMiddleware,
        allow_origins=allowed_origins(settings),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "GraphQL-Cost"],
        expose_headers=["RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID"],
        max_age=600,
    )


def app_from_environment() -> Starlette:
    """Uvicorn's factory: runs in every worker process."""
    configure_logging()
    keep_cancellations()
    settings = load_settings()
    if settings.workers > 1:
        # Workers must not outlive their supervisor, even one killed with SIGKILL.
        tie_to_supervisor()
    return create_app(settings)


def serve(arguments: argparse.Namespace) -> None:
    _export_overrides(arguments)
    configure_logging()
    settings = load_settings()
    # From here on, a stop signal unwinds whatever has started: the stores and their runtime
    # directory go however far the startup got.
    _exit_cleanly_on_stop_signals()
    try:
        with (
            bind_listener(settings.host, settings.port) as listener,
            provide_services(settings) as urls,
            worker_metrics_directory(workers=settings.workers) as metrics_directory,
        ):
            os.environ["MONGODB_URL"] = urls.mongodb_url
            os.environ["REDIS_URL"] = urls.redis_url
            if metrics_directory is not None:
                # Read by prometheus-client when each worker imports it: one scrape sees them all.
                os.environ[MULTIPROCESS_DIRECTORY_VARIABLE] = str(metrics_directory)
            if not settings.jwt_secret:
                log.warning("JWT_SECRET unset: signing with a random key for this run only")
                os.environ["JWT_SECRET"] = new_development_secret()
            if _stop_requested.is_set():
                raise SystemExit(0)
            listen(listener, settings.host, settings.port)
            log.info("listening on %s", listener_url(listener, settings.host))
            _serve_on(listener, settings)
    except ListenError as error:
        sys.exit(f"taskql: {error}")


def _serve_on(listener: socket.socket, settings: Settings) -> None:
    """`uvicorn.run`, on the socket bound here rather than on one Uvicorn would bind."""
    config = uvicorn.Config(
        "server:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        ws=WEBSOCKET_PROTOCOL,
        log_config=None,
        access_log=False,
        server_header=False,
        # The client's address comes from TASKQL_TRUSTED_PROXIES alone (schema/client_address.py).
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    if settings.workers > 1:
        os.environ[SUPERVISOR_VARIABLE] = str(os.getpid())  # the workers' parent, for them
        supervisor = Multiprocess(config, sockets=[listener])  # takes the stop signals over
        if not _stop_requested.is_set():
            supervisor.run()
        return
    server = _Server(config)
    server.run(sockets=[listener])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Runs once Uvicorn has taken the stop signals over: one that came before and was
        # swallowed still stops it (started, then shut down at once).
        if _stop_requested.is_set():
            self.should_exit = True
        await super().startup(sockets)


_stop_requested = threading.Event()


def _raise_system_exit(signum: int, _frame: object) -> None:
    # Remembered as well: Python ignores an exception raised where the signal happened to land
    # in a fork handler or a finaliser (seen in logging's, while a store was being spawned).
    _stop_requested.set()
    raise SystemExit(0)


def _exit_cleanly_on_stop_signals() -> None:
    # Uvicorn re-raises the stop signal after its graceful shutdown; with the default handler
    # the process would die there, before the embedded stores and runtime directory are cleaned.
    signal.signal(signal.SIGTERM, _raise_system_exit)
    signal.signal(signal.SIGINT, _raise_system_exit)


def services(arguments: argparse.Namespace) -> None:
    configure_logging()
    settings = load_settings()
    if arguments.redis_cluster and settings.redis_url is not None:
        sys.exit("server.py services --redis-cluster starts its own Redis Cluster: unset REDIS_URL")
    with provide_services(settings, redis_cluster=arguments.redis_cluster) as urls:
        # Blocked only once the children run (they must not inherit a mask that ignores
        # SIGTERM), and before the URLs are printed, so a stop right after them is caught.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        print(f"MONGODB_URL={urls.mongodb_url}", flush=True)  # noqa: T201 -- the command's output
        print(f"REDIS_URL={urls.redis_url}", flush=True)  # noqa: T201
        signal.sigwait({signal.SIGINT, signal.SIGTERM})


def export_schema(arguments: argparse.Namespace) -> None:
    sdl = schema_sdl(load_settings())
    if arguments.output is None:
        sys.stdout.write(sdl)
    else:
        Path(arguments.output).write_text(sdl, encoding="utf-8")


def _export_overrides(arguments: argparse.Namespace) -> None:
    for name in ("host", "port", "workers"):
        value = getattr(arguments, name, None)
        if value is not None:
            os.environ[name.upper()] = str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="server.py",
        description="taskql GraphQL server. Configuration comes from the environment "
        "(see README); MongoDB and Redis are embedded when MONGODB_URL/REDIS_URL are unset.",
    )
    commands = parser.add_subparsers(dest="command")
    serve_parser = commands.add_parser("serve", help="serve the API (the default command)")
    serve_parser.add_argument("--host", help="listen address (HOST, default 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="listen port (PORT, default 8000)")
    serve_parser.add_argument("--workers", type=int, help="worker processes (WORKERS, default 1)")
    serve_parser.set_defaults(handler=serve)
    services_parser = commands.add_parser(
        "services", help="run the embedded MongoDB and Redis and print their URLs"
    )
    services_parser.add_argument(
        "--redis-cluster",
        action="store_true",
        help="a Redis Cluster of 3 masters and 3 replicas instead of one redis-server "
        "(REDIS_URL=redis+cluster://...)",
    )
    services_parser.set_defaults(handler=services)
    schema_parser = commands.add_parser(
        "schema", help="print the schema as SDL (`make schema` writes schema.graphql)"
    )
    schema_parser.add_argument("--output", help="write to this file instead of stdout")
    schema_parser.set_defaults(handler=export_schema)
    add_seed_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    handler = getattr(arguments, "handler", serve)
    handler(arguments)


if __name__ == "__main__":
    main()
