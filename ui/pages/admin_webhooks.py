"""Admin: outbound webhooks (/admin/webhooks), a section of the admin pages (ui/pages/admin.py).

One card per endpoint: its URL, state (a pause says why), subscribed events, masked secret,
how many deliveries wait, and its latest deliveries with each request, answer, body excerpt
and duration, and a Replay button; its form (URL and events as checkboxes) folded under
"Edit"; Send test, Pause/Resume, Rotate secret and Delete as plain posts. A new endpoint's
secret, and a rotated one, is shown on the page that answers the post, once. Every change
goes through the actions /api/webhooks uses, with their checks.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import actions, queries
from inbox.domain.access import Viewer
from inbox.domain.errors import InboxError
from ui.http import form_id
from ui.pages.admin import READERS, SECTIONS, _admin, _back, _section, admin_action

SECTION = "webhooks"
LOG_SHOWN = 10  # deliveries per endpoint on the page; the API pages through them all
# The subscribable types in groups, each with what it means (docs/webhooks.md).
EVENT_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Messages", [("message.created", "A customer's message came in, or a reply was queued"),
                  ("message.updated", "A message's delivery status or error changed")]),
    ("Conversations", [("conversation.created", "A conversation started"),
                       ("conversation.updated", "Its status, labels, priority or unread count changed"),
                       ("conversation.assigned", "Its assignee or team changed"),
                       ("conversation.resolved", "It was resolved")]),
    ("Satisfaction and SLAs", [("csat.received", "A customer answered a satisfaction survey"),
                               ("sla.warning", "An SLA target is due soon"),
                               ("sla.breached", "An SLA target was missed")]),
    ("Contacts, notes and labels", [("contact.updated", "A contact was created, edited or merged"),
                                    ("note.created", "A private note was added"),
                                    ("label.updated", "A label was created or changed"),
                                    ("label.deleted", "A label was deleted")]),
    ("Agents", [("agent.presence_changed", "An agent went online, away or offline"),
                ("notification.created", "A user was notified (assigned, mentioned, a new message)")]),
]


def _request(delivery: dict[str, Any]) -> str:
    """The request's body as an admin reads it: indented."""
    try:
        return json.dumps(json.loads(delivery["payload"]), indent=2, ensure_ascii=False)
    except ValueError:
        return str(delivery["payload"])


def _outcome(d: dict[str, Any]) -> tuple[str, str]:
    """A delivery's state in words, and its state name for the colour."""
    if d["state"] == "delivered":
        return f"Delivered · {d['last_status']}", "delivered"
    if d["state"] == "failed":
        return "Failed" + (f" · {d['last_status']}" if d["last_status"] else ""), "failed"
    if d["state"] == "sending":
        return "Sending", "pending"
    if d["attempts"]:
        return f"Failed · {d['last_status'] or 'no answer'}", "retrying"
    return "Waiting", "pending"


def read(c: Any, registry: Any) -> dict[str, Any]:
    endpoints = []
    for endpoint in queries.list_webhooks(c):
        log = []
        for d in queries.webhook_deliveries(c, endpoint["id"], limit=LOG_SHOWN):
            words, state = _outcome(d)
            log.append({**d, "outcome": words, "outcome_state": state, "request": _request(d)})
        endpoints.append({**endpoint, "log": log})
    return {"webhooks": endpoints, "webhook_groups": EVENT_GROUPS}


READERS[SECTION] = read
SECTIONS.setdefault(SECTION, "Webhooks")


async def _events(request: Request) -> list[str]:
    return [str(v) for v in (await request.form()).getlist("events")]


async def create_webhook(request: Request) -> Response:
    """A new endpoint; the page that answers shows its secret, this once. Refused, the form
    comes back as typed (422) with the reason."""
    viewer = await _admin(request)
    if isinstance(viewer, Response):
        return viewer
    form = await request.form()
    url, events = str(form.get("url", "")), await _events(request)
    try:
        made = await actions.create_webhook(request.app.state.ctx, url, events)
    except InboxError as exc:
        return await _section(request, viewer, SECTION, status_code=exc.status, webhook_error=exc.message,
                              webhook_draft={"url": url, "events": events})
    return await _section(request, viewer, SECTION, status_code=201, new_secret=made)


@admin_action(SECTION)
async def update_webhook(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    endpoint_id = form_id(form.get("endpoint_id"), "endpoint_id")
    saved = await actions.update_webhook(request.app.state.ctx, endpoint_id,
                                         {"url": form.get("url", ""), "events": await _events(request)})
    return f"Webhook endpoint {saved['url']} saved"


@admin_action(SECTION)
async def set_webhook_active(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    endpoint_id, active = form_id(form.get("endpoint_id"), "endpoint_id"), form.get("active") == "true"
    saved = await actions.update_webhook(request.app.state.ctx, endpoint_id, {"active": active})
    if active:
        return f"Webhook endpoint {saved['url']} resumed: its {saved['pending']} waiting deliveries go now, in order"
    return f"Webhook endpoint {saved['url']} paused: its deliveries wait until it is resumed"


@admin_action(SECTION)
async def rotate_webhook(request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
    endpoint_id = form_id(form.get("endpoint_id"), "endpoint_id")
    rotated = await actions.rotate_webhook_secret(request.app.state.ctx, endpoint_id)
    return await _section(request, viewer, SECTION, new_secret=rotated, rotated=True)


@admin_action(SECTION)
async def delete_webhook(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    ctx, endpoint_id = request.app.state.ctx, form_id(form.get("endpoint_id"), "endpoint_id")
    endpoint = await ctx.db.read(lambda c: queries.get_webhook(c, endpoint_id))
    await actions.delete_webhook(ctx, endpoint_id)
    return f"Webhook endpoint {endpoint['url'] if endpoint else endpoint_id} deleted"


@admin_action(SECTION)
async def test_webhook(request: Request, viewer: Viewer, form: dict[str, str]) -> str | Response:
    endpoint_id = form_id(form.get("endpoint_id"), "endpoint_id")
    sent = await request.app.state.webhooks.send_test(endpoint_id)
    if sent["state"] == "delivered":
        return f"Test delivered: the endpoint answered {sent['last_status']} in {sent['last_duration_ms']:.0f} ms"
    what = sent["last_error"] or f"the endpoint answered {sent['last_status']}"
    return _back(SECTION, error=f"Test failed: {what}")


@admin_action(SECTION)
async def replay_delivery(request: Request, viewer: Viewer, form: dict[str, str]) -> str:
    delivery = await actions.replay_delivery(request.app.state.ctx, form_id(form.get("delivery_id"), "delivery_id"))
    return f"Delivery {delivery['id']} ({delivery['type']}) queued again, with the same webhook-id"


routes = [
    Route("/admin/webhook", create_webhook, methods=["POST"]),
    Route("/admin/webhook-update", update_webhook, methods=["POST"]),
    Route("/admin/webhook-active", set_webhook_active, methods=["POST"]),
    Route("/admin/webhook-rotate", rotate_webhook, methods=["POST"]),
    Route("/admin/webhook-delete", delete_webhook, methods=["POST"]),
    Route("/admin/webhook-test", test_webhook, methods=["POST"]),
    Route("/admin/webhook-replay", replay_delivery, methods=["POST"]),
]
