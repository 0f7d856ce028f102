"""`taskEvents`: the signed-in user's task events, replayed from a cursor, then live.

Checked before anything starts, each refusal a GraphQL error and the socket left open: the
cursor (malformed, or older than the log keeps), the user's open subscriptions, then the price
(charged only when the subscription will run)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from beanie import PydanticObjectId

from events import stream
from events.cursor import MalformedCursorError, decode_cursor
from events.subscriber import Subscriber
from loaders import create_loaders
from models.task_event import has_event
from schema.context import Context, Info
from schema.errors import TaskqlError, bad_input
from schema.extensions.query_cost import SubscriptionAdmission
from schema.task_event import TaskEvent

# The close code for a subscriber whose queue overflowed: reconnect and resume.
TRY_AGAIN_LATER = 1013
EXPIRED_CURSOR = (
    "The cursor is older than the 24 hours of events kept (or not one of yours): refetch the "
    "tasks, then subscribe without `after`."
)


async def task_events(info: Info, after: str | None) -> AsyncIterator[TaskEvent]:
    context = info.context
    viewer_id = context.require_viewer()
    after_seq = await _resume_point(viewer_id, after)
    slots = context.events.slots
    slot = uuid.uuid4().hex
    limit = context.settings.max_subscriptions_per_user
    if not await slots.acquire(viewer_id, slot, limit=limit):
        raise TaskqlError(
            "TOO_MANY_SUBSCRIPTIONS",
            f"You already hold {limit} open subscriptions: close one first.",
        )
    try:
        admission: object = info.root_value
        if isinstance(admission, SubscriptionAdmission):
            await admission.charge()
        subscriber = Subscriber(
            viewer_id,
            capacity=context.settings.subscriber_queue,
            on_overflow=lambda: _close(context, code=TRY_AGAIN_LATER),
        )
        context.metrics.subscriptions_active.inc()
        try:
            async for record in stream.task_events(context.events.hub, subscriber, after=after_seq):
                # Each event resolves its fields through loaders of its own, never through
                # what an earlier event (or operation on this connection) read.
                context.loaders = create_loaders(context.cache)
                yield context.events.view(record, TaskEvent.from_record)
        finally:
            context.metrics.subscriptions_active.dec()
    finally:
        await slots.release(viewer_id, slot)


async def _resume_point(viewer_id: PydanticObjectId, after: str | None) -> int | None:
    if after is None:
        return None
    try:
        seq = decode_cursor(after)
    except MalformedCursorError:
        raise bad_input("after", "The cursor is malformed.") from None
    if not await has_event(viewer_id, seq):
        raise bad_input("after", EXPIRED_CURSOR)
    return seq


def _close(context: Context, *, code: int) -> None:
    if context.close_connection is not None:
        context.close_connection(code)
