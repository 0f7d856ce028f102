"""Live task events through real servers sharing one MongoDB and Redis: an event written on
one instance reaches subscribers on another, in order, to that user alone, resumable from a
cursor; and the websocket's admission rules (token, protocol, caps)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
import orjson
import pytest
import websockets
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from auth.tokens import key_id
from events.cursor import encode_cursor
from tests.e2e.api import Api, SignedInUser
from tests.e2e.conftest import UNLIMITED_TIER
from tests.e2e.server_process import ServerProcess

pytestmark = pytest.mark.e2e

EVENTS = """
subscription($after: String) {
  taskEvents(after: $after) { type taskId cursor at task { id title version owner { name } } }
}
"""
CREATE = "mutation($title: String!) { createTask(input: {title: $title}) { id } }"
UPDATE = (
    "mutation($id: ID!, $title: String!) "
    "{ updateTask(input: {id: $id, title: $title}) { version } }"
)
DELETE = "mutation($id: ID!) { deleteTask(id: $id) }"
ME = "{ me { name } }"
WAIT = 10.0
PROTOCOL = Subprotocol("graphql-transport-ws")
Via = Literal["gql", "raw"]


def server_env(
    *, mongodb_url: str, redis_url: str, database: str, **extra: str
) -> dict[str, str | None]:
    """A server's environment; servers given the same one share stores and signing key."""
    return {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": database,
        "JWT_SECRET": secrets.token_urlsafe(48),
        "TASKQL_TRUSTED_PROXIES": "127.0.0.1",
        # Query cost is not under test here: bursts of writes must never be throttled.
        "TASKQL_COST_TIERS": orjson.dumps(
            {"anonymous": UNLIMITED_TIER, "user": UNLIMITED_TIER}
        ).decode(),
        **extra,
    }


@pytest.fixture(scope="module")
def instances(mongodb_url: str, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    database = f"taskql_events_{uuid.uuid4().hex[:8]}"
    env = server_env(mongodb_url=mongodb_url, redis_url=redis_url, database=database)
    with ServerProcess(env=dict(env)) as first, ServerProcess(env=dict(env)) as second:
        yield first, second
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    with client:
        client.drop_database(database)


@pytest.fixture
async def apis(instances: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[tuple[Api, Api]]:
    first, second = Api(instances[0]), Api(instances[1])
    yield first, second
    await first.close()
    await second.close()


def ws_url(api: Api) -> str:
    return api.url.replace("http://", "ws://")


# --- metrics -----------------------------------------------------------------------------------


async def metric(api: Api, name: str, **labels: str) -> float:
    """The sum of `name` over the instance's series carrying `labels`."""
    reply = await api.http.get(f"{api.server.base_url}/metrics")
    assert reply.status_code == 200
    wanted = set(labels.items())
    return sum(
        sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
        if sample.name == name and wanted <= set(sample.labels.items())
    )


async def active(*apis: Api) -> float:
    return sum([await metric(api, "taskql_subscriptions_active") for api in apis])


async def wait_for_active(expected: float, *apis: Api) -> None:
    """Until the instances together report `expected` open subscriptions (within WAIT)."""
    deadline = time.monotonic() + WAIT
    while (found := await active(*apis)) != expected:
        assert time.monotonic() < deadline, f"{found} subscriptions open, expected {expected}"
        await asyncio.sleep(0.05)


# --- raw graphql-transport-ws ------------------------------------------------------------------


@asynccontextmanager
async def raw_socket(api: Api, **options: Any) -> AsyncIterator[ClientConnection]:
    """A websocket speaking graphql-transport-ws, not yet initialised."""
    options.setdefault("subprotocols", [PROTOCOL])
    async with websockets.connect(ws_url(api), proxy=None, **options) as socket:
        yield socket


async def send(socket: ClientConnection, message: dict[str, Any]) -> None:
    await socket.send(orjson.dumps(message).decode())


async def receive(socket: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
    return message


async def initialise(socket: ClientConnection, user: SignedInUser) -> None:
    payload = {"Authorization": f"Bearer {user.access_token}"}
    await send(socket, {"type": "connection_init", "payload": payload})
    assert (await receive(socket))["type"] == "connection_ack"


async def start(
    socket: ClientConnection, op_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload = {"query": query, "variables": variables or {}}
    await send(socket, {"id": op_id, "type": "subscribe", "payload": payload})


async def refusal(socket: ClientConnection, op_id: str) -> list[dict[str, Any]]:
    """The errors an operation ended with: an `error` message, or `next` with errors then
    `complete`, as the contract allows."""
    message = await receive(socket)
    assert message["id"] == op_id, message
    if message["type"] == "error":
        errors: list[dict[str, Any]] = message["payload"]
        return errors
    assert message["type"] == "next", message
    assert message["payload"].get("data") is None, message
    assert await receive(socket) == {"id": op_id, "type": "complete"}
    errors = message["payload"]["errors"]
    assert isinstance(errors, list), message
    return errors


async def assert_still_serves(socket: ClientConnection, user: SignedInUser, op_id: str) -> None:
    """The socket is open and runs another operation."""
    await start(socket, op_id, ME)
    reply = await receive(socket)
    assert (reply["id"], reply["type"]) == (op_id, "next"), reply
    assert reply["payload"]["data"] == {"me": {"name": user.name}}
    assert "errors" not in reply["payload"], reply
    assert await receive(socket) == {"id": op_id, "type": "complete"}


async def closed_with(socket: ClientConnection) -> int | None:
    """Reads until the server closes the socket; the close code it sent."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(socket.recv(), WAIT)
    return socket.close_code


# --- subscriptions yielding a queue of events, through either client --------------------------


@asynccontextmanager
async def _gql_events(
    api: Api, user: SignedInUser, after: str | None, received: asyncio.Queue[dict[str, Any]]
) -> AsyncIterator[None]:
    transport = WebsocketsTransport(
        url=ws_url(api),
        init_payload={"Authorization": f"Bearer {user.access_token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:

        async def collect() -> None:
            request = GraphQLRequest(EVENTS, variable_values={"after": after})
            try:
                async for result in session.subscribe(request):
                    await received.put(result["taskEvents"])
            except (TransportError, ConnectionClosed) as error:  # an unexpected item in the test
                await received.put({"failed": repr(error)})

        task = asyncio.create_task(collect())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def _raw_events(
    api: Api, user: SignedInUser, after: str | None, received: asyncio.Queue[dict[str, Any]]
) -> AsyncIterator[None]:
    async with raw_socket(api) as socket:
        await initialise(socket, user)
        await start(socket, "events", EVENTS, {"after": after})

        async def collect() -> None:
            try:
                while True:
                    message = orjson.loads(await socket.recv())
                    if message.get("type") == "next" and "errors" not in message["payload"]:
                        await received.put(message["payload"]["data"]["taskEvents"])
                    else:
                        await received.put({"failed": message})
            except ConnectionClosed as closed:
                await received.put({"failed": f"closed: {closed}"})

        task = asyncio.create_task(collect())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def open_events(
    stack: AsyncExitStack, api: Api, user: SignedInUser, *, via: Via, after: str | None = None
) -> tuple[Awaitable[None], asyncio.Queue[dict[str, Any]]]:
    """Enters a subscription on the stack; returns the awaitable and its queue of events."""
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    opener = _gql_events if via == "gql" else _raw_events
    return stack.enter_async_context(opener(api, user, after, received)), received


@asynccontextmanager
async def subscribed(
    api: Api, user: SignedInUser, *, after: str | None = None, via: Via = "gql"
) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """A websocket session subscribed to the user's events; received ones land in a queue.
    Returns once the instance counts the subscription as open (it listens right after)."""
    before = await active(api)
    async with AsyncExitStack() as stack:
        entering, received = open_events(stack, api, user, via=via, after=after)
        await entering
        await wait_for_active(before + 1, api)
        await asyncio.sleep(0.2)  # counted, then listening: a moment apart
        yield received


async def take(queue: asyncio.Queue[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The next `count` events (each within WAIT); an error or a closed socket fails the test."""
    got = [await asyncio.wait_for(queue.get(), WAIT) for _ in range(count)]
    assert [item for item in got if "failed" in item] == [], got
    return got


async def create(api: Api, user: SignedInUser, title: str) -> str:
    reply = await api.post(CREATE, {"title": title}, token=user.access_token)
    assert reply.errors == [], reply.errors
    task_id: str = reply.data["createTask"]["id"]
    return task_id


async def update(api: Api, user: SignedInUser, task_id: str, title: str) -> int:
    reply = await api.post(UPDATE, {"id": task_id, "title": title}, token=user.access_token)
    assert reply.errors == [], reply.errors
    version: int = reply.data["updateTask"]["version"]
    return version


# --- tests -------------------------------------------------------------------------------------


async def test_an_event_written_on_one_instance_reaches_a_subscriber_on_another(
    apis: tuple[Api, Api],
) -> None:
    first, second = apis
    user = await first.register(name="Grace")
    async with subscribed(first, user) as events:
        created = await second.post(CREATE, {"title": "from B"}, token=user.access_token)
        task_id = created.data["createTask"]["id"]
        await second.post(UPDATE, {"id": task_id, "title": "renamed"}, token=user.access_token)
        await second.post(DELETE, {"id": task_id}, token=user.access_token)
        got = await take(events, 3)
    assert [event["type"] for event in got] == ["CREATED", "UPDATED", "DELETED"]
    assert {event["taskId"] for event in got} == {task_id}
    assert got[0]["task"] == {
        "id": task_id,
        "title": "from B",
        "version": 1,
        "owner": {"name": "Grace"},
    }
    assert got[1]["task"]["title"] == "renamed"
    assert got[1]["task"]["version"] == 2
    assert got[2]["task"] is None


async def test_raw_websocket_subscriber_gets_events_written_on_the_other_instance(
    apis: tuple[Api, Api],
) -> None:
    first, second = apis
    user = await first.register(name="Linus")
    async with subscribed(second, user, via="raw") as events:
        task_id = await create(first, user, "from A")
        (event,) = await take(events, 1)
    assert event["type"] == "CREATED"
    assert event["taskId"] == task_id
    assert event["task"] == {
        "id": task_id,
        "title": "from A",
        "version": 1,
        "owner": {"name": "Linus"},
    }
    assert datetime.fromisoformat(event["at"]) > datetime.now(UTC) - timedelta(minutes=1)


async def test_updates_arrive_in_order_per_task_and_only_to_their_owner(
    apis: tuple[Api, Api],
) -> None:
    first, second = apis
    owner = await first.register(name="Owner")
    other = await second.register(name="Other")
    rounds = 5
    async with (
        subscribed(first, owner, via="raw") as owner_events,
        subscribed(second, other, via="gql") as other_events,
    ):
        tasks = [await create(first, owner, "x 0"), await create(second, owner, "y 0")]

        async def rename(task_id: str, name: str, offset: int) -> None:
            for n in range(1, rounds + 1):
                await update(apis[(n + offset) % 2], owner, task_id, f"{name} {n}")

        await asyncio.gather(rename(tasks[0], "x", 0), rename(tasks[1], "y", 1))
        got = await take(owner_events, 2 + 2 * rounds)

        # The other user heard none of that: the first event it receives is its own.
        own = await create(first, other, "mine")
        (first_of_other,) = await take(other_events, 1)
        assert (first_of_other["type"], first_of_other["taskId"]) == ("CREATED", own)
        # Nor does the owner hear the other user's write.
        last = await create(second, owner, "last")
        (next_of_owner,) = await take(owner_events, 1)
        assert (next_of_owner["type"], next_of_owner["taskId"]) == ("CREATED", last)

    for task_id, name in zip(tasks, ["x", "y"], strict=True):
        per_task = [event for event in got if event["taskId"] == task_id]
        assert [event["type"] for event in per_task] == ["CREATED"] + ["UPDATED"] * rounds
        assert [event["task"]["version"] for event in per_task] == list(range(1, rounds + 2))
        assert [event["task"]["title"] for event in per_task] == [
            f"{name} {n}" for n in range(rounds + 1)
        ]
    assert len({event["cursor"] for event in got}) == len(got)


def summary(event: dict[str, Any]) -> tuple[str, str | None, int | None]:
    task = event["task"]
    return event["type"], task and task["title"], task and task["version"]


@pytest.mark.parametrize("via", ["gql", "raw"])
async def test_a_resumed_subscription_gets_exactly_the_missed_events_then_live_ones(
    apis: tuple[Api, Api], via: Via
) -> None:
    first, second = apis
    user = await first.register()
    async with subscribed(first, user, via=via) as events:
        task_id = await create(second, user, "seen 0")
        await update(first, user, task_id, "seen 1")
        seen = await take(events, 2)
    assert [summary(event) for event in seen] == [
        ("CREATED", "seen 0", 1),
        ("UPDATED", "seen 1", 2),
    ]
    cursor = seen[-1]["cursor"]

    # Written while no one listens; replayed as each change left the task.
    await update(second, user, task_id, "missed 0")
    await create(first, user, "missed 1")
    await update(first, user, task_id, "missed 2")
    reply = await second.post(DELETE, {"id": task_id}, token=user.access_token)
    assert reply.errors == [], reply.errors
    await create(second, user, "missed 3")
    missed = [
        ("UPDATED", "missed 0", 3),
        ("CREATED", "missed 1", 1),
        ("UPDATED", "missed 2", 4),
        ("DELETED", None, None),
        ("CREATED", "missed 3", 1),
    ]

    # Writes keep landing while the resumed subscription starts.
    live = [f"live {n}" for n in range(10)]

    async def keep_writing() -> None:
        for n, title in enumerate(live):
            await create(apis[n % 2], user, title)
            await asyncio.sleep(0.03)

    writer = asyncio.create_task(keep_writing())
    try:
        async with subscribed(second, user, after=cursor, via=via) as resumed:
            await writer
            got = await take(resumed, len(missed) + len(live))
            assert [summary(event) for event in got] == missed + [
                ("CREATED", title, 1) for title in live
            ]
            assert {event["taskId"] for event in got if event["type"] != "CREATED"} == {task_id}
            assert len({event["cursor"] for event in got}) == len(got)
            # Nothing was delivered twice: the next event is a new write.
            await create(first, user, "after all")
            (after_all,) = await take(resumed, 1)
            assert summary(after_all) == ("CREATED", "after all", 1)
    finally:
        await writer


async def test_many_subscribers_of_many_users_each_get_exactly_their_users_events(
    apis: tuple[Api, Api],
) -> None:
    first, second = apis
    users = [await first.register(name=f"User {n}") for n in range(4)]
    subscribers = 5
    writes = 25
    await wait_for_active(0, *apis)  # every earlier test's subscriptions are closed
    async with AsyncExitStack() as stack:
        queues: list[list[asyncio.Queue[dict[str, Any]]]] = []
        for u, user in enumerate(users):
            openings = [
                open_events(stack, apis[(u + j) % 2], user, via="gql" if j % 2 else "raw")
                for j in range(subscribers)
            ]
            for entering, _ in openings:
                await entering
            queues.append([queue for _, queue in openings])
        await wait_for_active(len(users) * subscribers, *apis)
        await asyncio.sleep(0.2)

        async def batch(api: Api, user: SignedInUser, titles: list[str]) -> list[str]:
            body = [{"query": CREATE, "variables": {"title": title}} for title in titles]
            reply = await api.http.post(api.url, json=body, headers=user.headers)
            assert reply.status_code == 200
            results = reply.json()
            assert all("errors" not in result for result in results), results
            return [result["data"]["createTask"]["id"] for result in results]

        async def write_all(u: int, user: SignedInUser) -> list[str]:
            batches = [
                batch(apis[b % 2], user, [f"u{u} t{b * 5 + i}" for i in range(5)])
                for b in range(writes // 5)
            ]
            return [task_id for ids in await asyncio.gather(*batches) for task_id in ids]

        created = await asyncio.gather(*(write_all(u, user) for u, user in enumerate(users)))

        for u, user in enumerate(users):
            received = [await take(queue, writes) for queue in queues[u]]
            for got in received:
                assert [event["type"] for event in got] == ["CREATED"] * writes
                assert sorted(event["taskId"] for event in got) == sorted(created[u])
                assert len({event["cursor"] for event in got}) == writes
                assert {event["task"]["owner"]["name"] for event in got} == {user.name}
                # Every subscriber of the user sees the same order.
                assert [event["cursor"] for event in got] == [
                    event["cursor"] for event in received[0]
                ]
            # No duplicate after the 25th, and nothing of anyone else: the next is the sentinel.
            sentinel = await create(apis[u % 2], user, "sentinel")
            for queue in queues[u]:
                (event,) = await take(queue, 1)
                assert event["taskId"] == sentinel

        # A sixth subscription of user 0 (3 open on A, 2 on B) is refused on B; the socket
        # stays open and still serves.
        async with raw_socket(second) as socket:
            await initialise(socket, users[0])
            await start(socket, "sixth", EVENTS)
            errors = await refusal(socket, "sixth")
            assert [error["extensions"]["code"] for error in errors] == ["TOO_MANY_SUBSCRIPTIONS"]
            await assert_still_serves(socket, users[0], "me")
        assert await active(*apis) == len(users) * subscribers
    await wait_for_active(0, *apis)


async def test_identical_subscriptions_of_one_user_share_each_events_execution(
    apis: tuple[Api, Api],
) -> None:
    first, second = apis
    user = await first.register(name="Shared")
    async with AsyncExitStack() as stack:
        queues = [
            await stack.enter_async_context(subscribed(first, user, via=via))
            for via in ("raw", "raw", "raw", "gql")
        ]
        batches = await metric(first, "taskql_dataloader_batch_size_count", loader="users")
        await create(second, user, "once")
        for queue in queues:
            (event,) = await take(queue, 1)
            assert event["task"]["owner"] == {"name": "Shared"}
        # The three raw subscribers send one document: the event ran once for them (one owner
        # lookup); the gql client prints its document differently, so it ran on its own.
        grown = await metric(first, "taskql_dataloader_batch_size_count", loader="users")
        assert grown - batches == 2


async def test_subscription_metrics(apis: tuple[Api, Api]) -> None:
    first, second = apis
    user = await first.register()
    await wait_for_active(0, *apis)
    published = await metric(second, "taskql_events_published_total", type="CREATED")
    async with subscribed(first, user, via="raw") as events:
        assert await active(first) == 1
        assert await active(second) == 0
        for n in range(3):
            await create(second, user, f"counted {n}")
        await take(events, 3)
        assert await metric(second, "taskql_events_published_total", type="CREATED") == (
            published + 3
        )
    await wait_for_active(0, *apis)


def _expired_token(api: Api, user: SignedInUser) -> str:
    key = api.server.env["JWT_SECRET"].split(",")[0]
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    past = datetime.now(UTC) - timedelta(hours=1)
    claims.update(iat=past, exp=past + timedelta(minutes=15))
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": key_id(key)})


def _foreign_token(user: SignedInUser) -> str:
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    return jwt.encode(claims, "k" * 48, algorithm="HS256", headers={"kid": key_id("k" * 48)})


@pytest.mark.parametrize(
    "kind",
    [
        "no payload",
        "empty payload",
        "not bearer",
        "garbage",
        "expired",
        "foreign key",
        "non-string",
    ],
)
async def test_a_connection_without_a_valid_token_is_closed_with_4403(
    apis: tuple[Api, Api], kind: str
) -> None:
    first, _ = apis
    user = await first.register()
    payloads: dict[str, dict[str, Any] | None] = {
        "no payload": None,
        "empty payload": {},
        "not bearer": {"Authorization": user.access_token},
        "garbage": {"Authorization": "Bearer garbage"},
        "expired": {"Authorization": f"Bearer {_expired_token(first, user)}"},
        "foreign key": {"Authorization": f"Bearer {_foreign_token(user)}"},
        "non-string": {"Authorization": ["Bearer", user.access_token]},
    }
    init: dict[str, Any] = {"type": "connection_init"}
    if payloads[kind] is not None:
        init["payload"] = payloads[kind]
    async with raw_socket(first) as socket:
        await send(socket, init)
        assert await closed_with(socket) == 4403


@pytest.mark.parametrize("key", ["authorization", "AUTHORIZATION", "Authorization"])
async def test_the_token_key_is_case_insensitive(apis: tuple[Api, Api], key: str) -> None:
    first, _ = apis
    user = await first.register(name="Keyed")
    async with raw_socket(first) as socket:
        payload = {key: f"Bearer {user.access_token}"}
        await send(socket, {"type": "connection_init", "payload": payload})
        assert (await receive(socket))["type"] == "connection_ack"
        await assert_still_serves(socket, user, "1")


async def test_the_legacy_graphql_ws_subprotocol_is_refused(apis: tuple[Api, Api]) -> None:
    first, _ = apis
    user = await first.register()
    try:
        async with raw_socket(first, subprotocols=[Subprotocol("graphql-ws")]) as socket:
            assert socket.subprotocol is None
            # The server never speaks the legacy protocol: it closes without acknowledging.
            init = {"type": "connection_init", "payload": {"authToken": user.access_token}}
            with contextlib.suppress(ConnectionClosed):
                await send(socket, init)
                while True:
                    reply = await receive(socket)
                    assert reply.get("type") != "connection_ack", reply
    except InvalidHandshake:
        return  # refused at the handshake
    assert socket.close_code is not None


@pytest.mark.parametrize("via", ["gql", "raw"])
@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "bm90LWEtY3Vyc29y",  # base64 of something else
        encode_cursor(10**9),  # well-formed, never issued
    ],
)
async def test_a_bad_cursor_is_refused_at_start_and_the_socket_stays_open(
    apis: tuple[Api, Api], cursor: str, via: Via
) -> None:
    first, second = apis
    user = await first.register(name="Cursor")
    await create(first, user, "an event exists")
    if via == "raw":
        async with raw_socket(second) as socket:
            await initialise(socket, user)
            for attempt in range(2):  # refused every time, the socket open after each
                await start(socket, f"bad {attempt}", EVENTS, {"after": cursor})
                errors = await refusal(socket, f"bad {attempt}")
                assert len(errors) == 1, errors
                assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
                assert errors[0]["extensions"]["field"] == "after"
                await assert_still_serves(socket, user, f"me {attempt}")
        return
    transport = WebsocketsTransport(
        url=ws_url(second),
        init_payload={"Authorization": f"Bearer {user.access_token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        request = GraphQLRequest(EVENTS, variable_values={"after": cursor})
        with pytest.raises(TransportQueryError) as refused:
            await anext(aiter(session.subscribe(request)))
        assert refused.value.errors is not None
        assert [error["extensions"]["code"] for error in refused.value.errors] == ["BAD_USER_INPUT"]
        assert refused.value.errors[0]["extensions"]["field"] == "after"
        assert await session.execute(GraphQLRequest(ME)) == {"me": {"name": "Cursor"}}
