"""Routing: presence, capacity and automatic assignment.

``agent_state`` holds each user's presence (online, away, offline, since when, what they
chose), their own capacity and when routing last gave them a conversation;
``presence_change`` every change of status with its cause. Inboxes and teams get a
``routing`` policy (JSON; {} means by hand, as before), conversations who assigned them
(routing or a person) and when, and when the no-reply timeout last acted on them.
Preferences get the no-reply notification and away-after-inactivity.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_state",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chosen", sa.String(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "presence_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("previous", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_presence_change_user", "presence_change", ["user_id", "id"])
    # In place, with literal defaults: a batch copy of these tables would fail on the rows
    # of other tables that refer to them.
    op.add_column("inbox", sa.Column("routing", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("team", sa.Column("routing", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("conversation", sa.Column("assigned_by", sa.String(), nullable=True))
    op.add_column("conversation", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("no_reply_handled", sa.DateTime(timezone=True), nullable=True))
    op.add_column("user_preference", sa.Column("notify_no_reply", sa.Boolean(), nullable=False,
                                               server_default=sa.true()))
    op.add_column("user_preference", sa.Column("away_after_minutes", sa.Integer(), nullable=True))
    # Conversations assigned before routing existed were assigned by a person.
    op.execute("UPDATE conversation SET assigned_by = 'manual', assigned_at = updated_at "
               "WHERE assignee_id IS NOT NULL")


def downgrade() -> None:
    op.drop_column("user_preference", "away_after_minutes")
    op.drop_column("user_preference", "notify_no_reply")
    op.drop_column("conversation", "no_reply_handled")
    op.drop_column("conversation", "assigned_at")
    op.drop_column("conversation", "assigned_by")
    op.drop_column("team", "routing")
    op.drop_column("inbox", "routing")
    op.drop_index("ix_presence_change_user", table_name="presence_change")
    op.drop_table("presence_change")
    op.drop_table("agent_state")
