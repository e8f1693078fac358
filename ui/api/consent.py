"""/api/contacts/{id}/consent: a contact's consent ledger (docs/consent.md, docs/api.md).
Every signed-in user may read it and record a line: an agent's records are ``agent``, a
token's ``api`` unless it says ``import`` or ``form``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain import consent
from inbox.domain.access import Viewer
from inbox.domain.consent import Purpose, Source, State
from inbox.domain.errors import NotFound
from ui.api.openapi import body, takes
from ui.auth import credentials, requires
from ui.http import ctx_of, json_body, path_id

JSON_LIMIT = 16 * 1024


@requires()
async def get_consent(request: Request, viewer: Viewer) -> Response:
    """Where the contact stands on each channel, and its records, newest first."""
    contact_id = path_id(request, "contact")

    def read(conn: Connection) -> dict[str, Any] | None:
        contact = queries.get_contact(conn, contact_id, full=False)
        return None if contact is None else queries.consent_ledger(conn, contact_id)
    found = await ctx_of(request).db.read(read)
    if found is None:
        raise NotFound("no such contact")
    return JSONResponse(found)


@takes(body(("channel", "purpose", "state"), closed=True, channel={"type": "string"},
            purpose={"enum": [p.value for p in Purpose]}, state={"enum": [s.value for s in State]},
            source={"enum": [s.value for s in consent.GIVEN_SOURCES]},
            proof={"type": "string", "maxLength": consent.MAX_PROOF_CHARS}))
@requires()
async def post_consent(request: Request, viewer: Viewer) -> Response:
    """Record an opt-in or opt-out; the ledger as it now stands."""
    data = await json_body(request, JSON_LIMIT)
    default = Source.api if credentials(request).token else Source.agent
    return JSONResponse(await actions.record_consent(ctx_of(request), viewer, path_id(request, "contact"), data,
                                                     request.app.state.registry.kinds(), default), status_code=201)


ROUTES = [
    Route("/api/contacts/{id}/consent", get_consent),
    Route("/api/contacts/{id}/consent", post_consent, methods=["POST"]),
]
