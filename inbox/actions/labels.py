"""Triage: the labels an admin defines, the labels on a conversation, and its priority.

A change on a conversation is logged in its timeline (``labelled``, ``priority_changed``)
and sent as ``conversation.updated`` with the conversation as it now is (labels and
priority included). A change to a label itself is sent as ``label.updated`` or
``label.deleted`` to everyone: the conversations carrying it are not sent one by one
(there may be thousands); clients read them again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from inbox import queries
from inbox.actions import rollups, sla
from inbox.actions.common import _conversation, _log, access_conversation
from inbox.actions.context import Context
from inbox.domain.access import Viewer, conversation_scopes
from inbox.domain.errors import Conflict, Forbidden, Invalid, NotFound
from inbox.domain.events import CONVERSATION_UPDATED, LABEL_DELETED, LABEL_UPDATED, SCOPE_ALL
from inbox.domain.models import Priority, Role
from inbox.domain.records import Conversation, Dict, Label, LabelRef
from inbox.domain.tables import CONVERSATION_LABELS, CONVERSATIONS, LABELS
from inbox.storage.db import Tx

NAME_CHARS = 50
DESCRIPTION_CHARS = 500
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LABEL_FIELDS = ("name", "colour", "description")


def _admin(viewer: Viewer) -> None:
    if viewer.role != Role.admin:
        raise Forbidden("only an admin manages labels")


def _checked(changes: Dict) -> Dict:
    """The label fields given, validated and normalised: a trimmed name, a lower-case
    colour, a trimmed description."""
    unknown = set(changes) - set(LABEL_FIELDS)
    if unknown:
        raise Invalid(f"unknown label fields: {', '.join(sorted(unknown))}", "unknown_field")
    out: Dict = {}
    for key, value in changes.items():
        if not isinstance(value, str):
            raise Invalid(f"{key} must be a string", "invalid_field")
        out[key] = value.strip()
    if "name" in out:
        name = out["name"]
        if not name:
            raise Invalid("a label needs a name", "missing_field")
        if len(name) > NAME_CHARS:
            raise Invalid(f"a label's name is limited to {NAME_CHARS} characters", "invalid_label_name")
        if '"' in name or not name.isprintable():
            raise Invalid('a label\'s name cannot hold double quotes (") or control characters', "invalid_label_name")
        if name.isdecimal():
            raise Invalid("a label's name cannot be only digits: it would read as a label id", "invalid_label_name")
    if "colour" in out:
        if not COLOUR.fullmatch(out["colour"]):
            raise Invalid('colour must be a hex colour like "#1f5fbf"', "invalid_colour")
        out["colour"] = out["colour"].lower()
    if len(out.get("description", "")) > DESCRIPTION_CHARS:
        raise Invalid(f"a label's description is limited to {DESCRIPTION_CHARS} characters", "invalid_field")
    return out


def _unique(tx: Tx, name: str, label_id: int | None) -> None:
    """Names are unique ignoring case (``name_key``'s unique constraint backs this up)."""
    row = tx.conn.execute(select(LABELS.c.id, LABELS.c.name).where(LABELS.c.name_key == name.casefold())).first()
    if row is not None and row.id != label_id:
        raise Conflict(f"a label named {row.name} exists already", "label_exists")


async def create_label(ctx: Context, viewer: Viewer, name: str, colour: str, description: str = "") -> Label:
    _admin(viewer)
    values = _checked({"name": name, "colour": colour, "description": description})

    def job(tx: Tx) -> Label:
        _unique(tx, values["name"], None)
        label_id = tx.conn.execute(insert(LABELS).values(**values, name_key=values["name"].casefold(),
                                                         created_at=ctx.clock.now())).inserted_primary_key[0]  # type: ignore[index]
        label = queries.get_label(tx.conn, label_id)
        assert label is not None
        tx.emit(LABEL_UPDATED, {"label": label}, [SCOPE_ALL])
        return label
    return await ctx.db.write(job)


async def update_label(ctx: Context, viewer: Viewer, label_id: int, changes: Dict) -> Label:
    """Rename, recolour or describe a label; a key left out is unchanged."""
    _admin(viewer)
    values = _checked(changes)

    def job(tx: Tx) -> Label:
        current = queries.get_label(tx.conn, label_id)
        if current is None:
            raise NotFound("no such label")
        if "name" in values:
            _unique(tx, values["name"], label_id)
        if all(current[k] == v for k, v in values.items()):  # type: ignore[literal-required]
            return current
        keyed = {**values, "name_key": values["name"].casefold()} if "name" in values else values
        tx.conn.execute(update(LABELS).where(LABELS.c.id == label_id).values(**keyed))
        label = queries.get_label(tx.conn, label_id)
        assert label is not None
        tx.emit(LABEL_UPDATED, {"label": label}, [SCOPE_ALL])
        return label
    return await ctx.db.write(job)


async def delete_label(ctx: Context, viewer: Viewer, label_id: int) -> None:
    """Delete a label: every conversation loses it (their timelines keep the name it had)."""
    _admin(viewer)

    def job(tx: Tx) -> None:
        if queries.get_label(tx.conn, label_id) is None:
            raise NotFound("no such label")
        rollups.label_deleted(tx.conn, label_id)
        # ON DELETE CASCADE does this too; said here so it holds whatever the engine's settings.
        tx.conn.execute(delete(CONVERSATION_LABELS).where(CONVERSATION_LABELS.c.label_id == label_id))
        tx.conn.execute(delete(LABELS).where(LABELS.c.id == label_id))
        tx.emit(LABEL_DELETED, {"label_id": label_id}, [SCOPE_ALL])
    await ctx.db.write(job)


def _refs(value: Any, name: str) -> list[int | str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
        raise Invalid(f"{name} must be a list of label ids or names", "invalid_field")
    return list(value)


async def change_labels(ctx: Context, viewer: Viewer, conversation_id: int, add: Sequence[int | str] = (),
                        remove: Sequence[int | str] = ()) -> Conversation:
    """Add and remove labels (ids or names) on a conversation anyone who sees it may
    change. An unknown label refuses the whole change; adding a label it has, or removing
    one it has not, is no change."""
    adding, removing = _refs(add, "add"), _refs(remove, "remove")
    return await ctx.db.write(lambda tx: labels_in(tx, viewer, conversation_id, adding, removing, ctx.clock.now()))


def labels_in(tx: Tx, viewer: Viewer, conversation_id: int, adding: Sequence[int | str],
              removing: Sequence[int | str], now: datetime) -> Conversation:
    """``change_labels`` inside a transaction."""
    conn = tx.conn
    conv = access_conversation(conn, viewer, conversation_id)
    to_add, unknown = queries.find_labels(conn, adding)
    to_remove, unknown_too = queries.find_labels(conn, removing)
    if unknown or unknown_too:
        raise Invalid(f"no such label: {', '.join(str(u) for u in unknown + unknown_too)}", "unknown_label")
    both = {label["id"] for label in to_add} & {label["id"] for label in to_remove}
    if both:
        raise Invalid("a label cannot be both added and removed", "label_added_and_removed")
    has = {label["id"] for label in conv["labels"]}
    added: list[LabelRef] = [label for label in to_add if label["id"] not in has]
    removed: list[LabelRef] = [label for label in to_remove if label["id"] in has]
    if not added and not removed:
        return conv
    rollups.relabel(conn, {conversation_id: (has, (has | {label["id"] for label in added})
                                             - {label["id"] for label in removed})})
    if added:
        conn.execute(insert(CONVERSATION_LABELS), [{"conversation_id": conversation_id, "label_id": label["id"]}
                                                   for label in added])
    if removed:
        conn.execute(delete(CONVERSATION_LABELS).where(
            CONVERSATION_LABELS.c.conversation_id == conversation_id,
            CONVERSATION_LABELS.c.label_id.in_([label["id"] for label in removed])))
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(updated_at=now))
    _log(tx, conversation_id, "labelled", viewer.actor, {"added": added, "removed": removed}, now)
    sla.sync(tx, conversation_id, now)  # a label may choose another policy
    updated = _conversation(conn, conversation_id)
    tx.emit(CONVERSATION_UPDATED, {"conversation": updated, "actor_id": viewer.actor,
                                   "labels_added": added, "labels_removed": removed},
            conversation_scopes(updated["assignee_id"], updated["team_id"]))
    return updated


async def set_priority(ctx: Context, viewer: Viewer, conversation_id: int, priority: str) -> Conversation:
    """Anyone who sees the conversation may set its priority ("none" clears it)."""
    if priority not in {p.value for p in Priority}:
        raise Invalid(f"priority must be one of {', '.join(Priority)}", "invalid_priority")

    return await ctx.db.write(lambda tx: priority_in(tx, viewer, conversation_id, priority, ctx.clock.now()))


def priority_in(tx: Tx, viewer: Viewer, conversation_id: int, priority: str, now: datetime) -> Conversation:
    """``set_priority`` inside a transaction (``priority`` checked already)."""
    conn = tx.conn
    conv = access_conversation(conn, viewer, conversation_id)
    if conv["priority"] == priority:
        return conv
    conn.execute(update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(
        priority=priority, updated_at=now))
    _log(tx, conversation_id, "priority_changed", viewer.actor, {"from": conv["priority"], "to": priority}, now)
    sla.sync(tx, conversation_id, now)
    updated = _conversation(conn, conversation_id)
    tx.emit(CONVERSATION_UPDATED, {"conversation": updated, "actor_id": viewer.actor,
                                   "previous_priority": conv["priority"]},
            conversation_scopes(updated["assignee_id"], updated["team_id"]))
    return updated
