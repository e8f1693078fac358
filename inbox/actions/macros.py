"""Macros (docs/automation.md, "Macros"): named sequences of steps an agent runs on a
conversation from its header or the composer's "/" menu. Personal ones are their owner's;
shared ones (``owner_id`` None) everyone's, made and changed by leads and admins.

A macro runs as the agent who runs it, with their rights, all its steps in one
transaction: it does everything or, refused at a step (a reply window closed), nothing,
and says why. Each step shows in the timeline as the agent's, "via macro “name”"
(``Tx.by``: ``{"macro_id", "macro_name"}``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from inbox.actions.automation import Outcome, Policy, Skipped, perform
from inbox.actions.common import access_conversation
from inbox.actions.context import Context
from inbox.actions.csat import SurveyPolicy
from inbox.domain import automation
from inbox.domain.access import Viewer
from inbox.domain.errors import Conflict, Forbidden, NotFound
from inbox.domain.records import Conversation, Dict
from inbox.domain.serialize import iso
from inbox.domain.tables import MACROS
from inbox.storage.db import Tx


def _dict(m: Any) -> Dict:
    return {"id": m.id, "name": m.name, "shared": m.owner_id is None, "owner_id": m.owner_id, "steps": m.steps,
            "created_at": iso(m.created_at), "updated_at": iso(m.updated_at)}


def list_macros(conn: Connection, viewer: Viewer) -> list[Dict]:
    """The viewer's own macros and the shared ones, by name."""
    return [_dict(m) for m in conn.execute(select(MACROS).where(
        or_(MACROS.c.owner_id.is_(None), MACROS.c.owner_id == viewer.user_id)).order_by(MACROS.c.name, MACROS.c.id))]


def _visible(conn: Connection, viewer: Viewer, macro_id: int) -> Any:
    m = conn.execute(select(MACROS).where(MACROS.c.id == macro_id)).first()
    if m is None or (m.owner_id is not None and m.owner_id != viewer.user_id):
        raise NotFound("no such macro")
    return m


def _may_change(viewer: Viewer, shared: bool) -> None:
    if shared and not viewer.sees_all:
        raise Forbidden("only a lead or an admin makes or changes a shared macro", "shared_macro_forbidden")


def save_macro(tx: Tx, viewer: Viewer, raw: Any, now: datetime, macro_id: int | None = None) -> Dict:
    """POST and PATCH /api/macros: checked, then stored (a change merged into the macro)."""
    conn = tx.conn
    current = None
    if macro_id is not None:
        m = _visible(conn, viewer, macro_id)
        _may_change(viewer, m.owner_id is None)
        current = {"name": m.name, "steps": m.steps, "shared": m.owner_id is None}
    macro = automation.check_macro(raw, current)
    _may_change(viewer, macro["shared"])
    values = {"name": macro["name"], "steps": macro["steps"], "owner_id": None if macro["shared"] else viewer.user_id,
              "updated_at": now}
    if macro_id is None:
        macro_id = conn.execute(insert(MACROS).values(**values, created_at=now)).inserted_primary_key[0]  # type: ignore[index]
    else:
        conn.execute(update(MACROS).where(MACROS.c.id == macro_id).values(**values))
    return _dict(_visible(conn, viewer, macro_id))


def delete_macro(tx: Tx, viewer: Viewer, macro_id: int) -> None:
    m = _visible(tx.conn, viewer, macro_id)
    _may_change(viewer, m.owner_id is None)
    tx.conn.execute(delete(MACROS).where(MACROS.c.id == macro_id))


def _policy(ctx: Context) -> Policy:
    return Policy(ctx.reply_windows, timedelta(hours=ctx.settings.auto_reply_interval_hours), SurveyPolicy.of(ctx),
                  take=ctx.settings.assign_on_reply)


async def run_macro(ctx: Context, viewer: Viewer, conversation_id: int, macro_id: int) -> tuple[Conversation, Dict]:
    """Run a macro on a conversation: the conversation after it, and what each step did."""
    policy = _policy(ctx)
    outcome = Outcome()

    def job(tx: Tx) -> tuple[Conversation, Dict]:
        conn, now = tx.conn, ctx.clock.now()
        m = _visible(conn, viewer, macro_id)
        access_conversation(conn, viewer, conversation_id)
        tx.by = {"macro_id": m.id, "macro_name": m.name}
        done = []
        try:
            for i, step in enumerate(m.steps):
                try:
                    done.append(perform(tx, step, conversation_id, now, policy, outcome, actor=viewer))
                except Skipped as why:
                    raise Conflict(f"step {i + 1} of “{m.name}” ({step['type'].replace('_', ' ')}): {why}",
                                   "macro_step_refused") from None
        finally:
            tx.by = None
        conv = access_conversation(conn, viewer, conversation_id)
        return conv, {"macro_id": m.id, "done": done}
    result = await ctx.db.write(job)
    if outcome.sent:
        ctx.wake_delivery()
    if outcome.snoozed:
        ctx.snoozes_changed()
    if outcome.routed:
        ctx.wake_routing()
    return result
