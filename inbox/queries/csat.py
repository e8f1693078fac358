"""Satisfaction surveys and their answers (docs/csat.md): as report facts are rebuilt from
them, a contact's, and a period's answers with their comments for the reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from inbox.domain.serialize import iso
from inbox.domain.tables import CSAT_SURVEYS, USERS
from inbox.storage.prepared import as_utc

S = CSAT_SURVEYS.c


def answers_for_reports(conn: Connection, conversation_ids: list[int]) -> list[dict[str, Any]]:
    """The answers to these conversations' surveys, as report facts are rebuilt from them:
    {"id", "conversation_id", "at", "score", "cycle", "agent_id", "team_id", "inbox_id", "channel"}."""
    if not conversation_ids:
        return []
    rows = conn.execute(select(S.id, S.conversation_id, S.answered_at, S.score, S.cycle, S.agent_id, S.team_id,
                               S.inbox_id, S.channel)
                        .where(S.conversation_id.in_(conversation_ids), S.answered_at.is_not(None))
                        .order_by(S.conversation_id, S.answered_at))
    return [{"id": r.id, "conversation_id": r.conversation_id, "at": as_utc(r.answered_at), "score": r.score,
             "cycle": r.cycle, "agent_id": r.agent_id, "team_id": r.team_id, "inbox_id": r.inbox_id,
             "channel": r.channel} for r in rows]


def _survey(r: Any) -> dict[str, Any]:
    return {"id": r.id, "conversation_id": r.conversation_id, "cycle": r.cycle, "channel": r.channel,
            "inbox_id": r.inbox_id, "agent_id": r.agent_id, "agent_name": r.agent_name, "team_id": r.team_id,
            "question": r.question, "version": r.version, "sent_at": iso(r.sent_at),
            "expires_at": iso(r.expires_at), "answered_at": iso(r.answered_at), "score": r.score,
            "comment": r.comment, "source": r.source}


_SURVEYS = (select(*CSAT_SURVEYS.c, USERS.c.name.label("agent_name"))
            .select_from(CSAT_SURVEYS.outerjoin(USERS, USERS.c.id == S.agent_id)))


def for_contact(conn: Connection, contact_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The contact's surveys, newest first, answered or not (the contact panel)."""
    rows = conn.execute(_SURVEYS.where(S.contact_id == contact_id).order_by(S.sent_at.desc(), S.id.desc())
                        .limit(limit))
    return [_survey(r) for r in rows]


def answers(conn: Connection, start: datetime, end: datetime, *, comments_only: bool = False,
            after: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """A period's answers [start, end), newest first, with their comments and who got the
    credit; ``after``: the id of the last one of the page before (keyset)."""
    query = _SURVEYS.where(S.answered_at >= start, S.answered_at < end)
    if comments_only:
        query = query.where(S.comment.is_not(None))
    if after is not None:
        query = query.where(S.id < after)
    return [_survey(r) for r in conn.execute(query.order_by(S.id.desc()).limit(limit))]


def get_survey(conn: Connection, survey_id: int) -> dict[str, Any] | None:
    """One survey as the contact panel and the reports list it (the ``csat.received`` event's)."""
    row = conn.execute(_SURVEYS.where(S.id == survey_id)).first()
    return _survey(row) if row is not None else None
