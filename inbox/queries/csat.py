"""Satisfaction surveys and their answers (docs/csat.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection


def answers_for_reports(conn: Connection, conversation_ids: list[int]) -> list[dict[str, Any]]:
    """The answers to these conversations' surveys, as report facts are rebuilt from them:
    {"id", "conversation_id", "at", "score", "cycle", "agent_id", "team_id", "inbox_id", "channel"}."""
    return []
