"""Scheduled messages (docs/campaigns.md, "Scheduled messages"; the API in docs/api.md): an
agent's reply for later (/api/conversations/{id}/scheduled), a reminder to a contact
(/api/contacts/{id}/scheduled, leads and admins, as integrations use it), and reading or
cancelling one (/api/scheduled/{id})."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.actions import scheduled
from inbox.queries import scheduled as scheduled_reads
from inbox.actions.common import access_conversation
from inbox.domain.access import Viewer
from inbox.domain.errors import Invalid, NotFound
from inbox.domain.models import Role
from ui.api.openapi import ID, STRING, body, takes
from ui.auth import requires
from ui.http import ctx_of, json_body, path_id

JSON_LIMIT = 64 * 1024
FIELDS: dict[str, dict[str, Any]] = dict(
    text={"type": "string", "maxLength": 10_000}, template={"type": ["object", "null"]}, at=STRING, local=STRING,
    inbox_id=ID, purpose={"enum": ["transactional", "marketing"]})
KEY = {"Idempotency-Key": {"type": "string", "maxLength": 200}}


def _key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key") or None
    if key is not None and len(key) > 200:
        raise Invalid("Idempotency-Key is limited to 200 characters", "invalid_idempotency_key")
    return key


@takes(body((), closed=True, **FIELDS), headers=KEY)
@requires()
async def schedule_reply(request: Request, viewer: Viewer) -> Response:
    """Schedule a reply for later: at an instant, or at the customer's local time."""
    return await _schedule(request, viewer, scheduled.schedule_reply, "conversation")


@requires()
async def conversation_scheduled(request: Request, viewer: Viewer) -> Response:
    """The conversation's scheduled messages still to go, soonest first."""
    conversation_id = path_id(request, "conversation")

    def read(conn: Any) -> list[dict[str, Any]]:
        access_conversation(conn, viewer, conversation_id)
        return scheduled_reads.for_conversation(conn, conversation_id)
    return JSONResponse({"items": await ctx_of(request).db.read(read)})


@takes(body(("inbox_id",), closed=True, **FIELDS), headers=KEY)
@requires(Role.lead)
async def schedule_reminder(request: Request, viewer: Viewer) -> Response:
    """Schedule a message to a contact through an inbox (an appointment reminder)."""
    return await _schedule(request, viewer, scheduled.schedule_for_contact, "contact")


async def _schedule(request: Request, viewer: Viewer, act: Any, what: str) -> Response:
    """A scheduled message made (201) or, by a replayed Idempotency-Key, the one made before (200)."""
    data, ctx = await json_body(request, JSON_LIMIT), ctx_of(request)
    item, replayed = await act(ctx, viewer, path_id(request, what), data, _key(request))
    return JSONResponse(item, status_code=200 if replayed else 201,
                        headers={"Idempotent-Replayed": "true"} if replayed else None)


@requires()
async def get_scheduled(request: Request, viewer: Viewer) -> Response:
    """One scheduled message: its state (scheduled, sent, cancelled, failed with the reason)."""
    scheduled_id = path_id(request, "scheduled message")

    def read(conn: Any) -> dict[str, Any] | None:
        found = scheduled_reads.get(conn, scheduled_id)
        if found is None:
            return None
        if found["kind"] == "reply" and found["conversation_id"] is not None:
            try:
                access_conversation(conn, viewer, found["conversation_id"])
            except NotFound:
                return None
        elif found["author_id"] != viewer.user_id and not viewer.sees_all:
            return None
        return found
    found = await ctx_of(request).db.read(read)
    if found is None:
        raise NotFound("no such scheduled message")
    return JSONResponse(found)


@requires()
async def cancel_scheduled(request: Request, viewer: Viewer) -> Response:
    """Cancel one still to go."""
    return JSONResponse(await scheduled.cancel(ctx_of(request), viewer, path_id(request, "scheduled message")))


ROUTES = [
    Route("/api/conversations/{id}/scheduled", conversation_scheduled),
    Route("/api/conversations/{id}/scheduled", schedule_reply, methods=["POST"]),
    Route("/api/contacts/{id}/scheduled", schedule_reminder, methods=["POST"]),
    Route("/api/scheduled/{id}", get_scheduled),
    Route("/api/scheduled/{id}", cancel_scheduled, methods=["DELETE"]),
]
