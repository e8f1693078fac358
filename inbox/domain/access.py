"""Who may see what: the viewer, the scopes an event or conversation carries, and the
SQL clause that limits a conversation list to what a viewer may see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_

from inbox.domain.events import INTERNAL_SCOPES, PERSONAL, SCOPE_ALL
from inbox.domain.tables import CONVERSATIONS


def conversation_scopes(assignee_id: int | None, team_id: int | None) -> list[str]:
    """Agents see unassigned conversations, their own, and their teams'."""
    if assignee_id is None and team_id is None:
        return [SCOPE_ALL]
    scopes = []
    if assignee_id is not None:
        scopes.append(f"user:{assignee_id}")
    if team_id is not None:
        scopes.append(f"team:{team_id}")
    return scopes


AUTOMATION_ID = 0  # the Viewer automation rules act as: no user has id 0


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is watching: decides which events (and conversations) they may see."""

    user_id: int
    role: str = "agent"
    team_ids: frozenset[int] = frozenset()
    name: str = ""  # for the pages' top bar; decides nothing

    @property
    def sees_all(self) -> bool:
        return self.role in ("lead", "admin")

    @property
    def actor(self) -> int | None:
        """Who a change is recorded as made by: the user, or None for the automation (whose
        rule the change names instead: Tx.by)."""
        return None if self.user_id == AUTOMATION_ID else self.user_id

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset({SCOPE_ALL, f"user:{self.user_id}", f"{PERSONAL}{self.user_id}",
                          *(f"team:{t}" for t in self.team_ids)})

    def may_see(self, scopes: Sequence[str]) -> bool:
        if self.sees_all:  # everything but the internal events and others' personal ones
            return scopes != INTERNAL_SCOPES and not is_personal_to_another(scopes, self.user_id)
        return not self.scopes.isdisjoint(scopes)


def is_personal_to_another(scopes: Sequence[str], user_id: int) -> bool:
    """Whether the event is someone else's own (``personal_scopes``): the one check a lead's
    or an admin's socket makes beyond the internal events."""
    return len(scopes) == 1 and scopes[0].startswith(PERSONAL) and scopes[0] != f"{PERSONAL}{user_id}"


def visible_to(viewer: Viewer, conv: Mapping[str, Any]) -> bool:
    return viewer.may_see(conversation_scopes(conv["assignee_id"], conv["team_id"]))


def visibility_clause(viewer: Viewer) -> Any:
    c = CONVERSATIONS.c
    # coalesce() keeps SQLite from answering this OR by merging three index searches (a
    # third of 100,000 conversations, then sorted: 40-120 ms); walking the list newest
    # first and skipping what the agent may not see stops after a page (1 ms).
    clauses = [and_(c.assignee_id.is_(None), c.team_id.is_(None)), func.coalesce(c.assignee_id, 0) == viewer.user_id]
    if viewer.team_ids:
        clauses.append(c.team_id.in_(viewer.team_ids))
    return or_(*clauses)


# What automation rules act as: sees everything, records no user as the actor.
AUTOMATION = Viewer(AUTOMATION_ID, "admin", name="Automation")
