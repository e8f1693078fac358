"""Time: business-hours calendars, SLA policies and clocks, automatic replies.

``calendar`` holds business hours (a zone, weekly intervals, dated exceptions); inboxes
and teams point at one. ``sla_policy`` holds promised times; ``sla_target`` each promise
made to a conversation, ``sla_span`` its clock's running and paused intervals, and the
conversation a summary (next due time, status) for the list. Inboxes get their
out-of-office and acknowledgement replies, conversations when one last went, messages
whether they were sent (or came) automatically. Preferences get the breach notification.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("exceptions", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "sla_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("business_hours", sa.Boolean(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("pause_statuses", sa.JSON(), nullable=False),
        sa.Column("warn_percent", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendar.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "sla_target",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("budget_seconds", sa.Integer(), nullable=False),
        sa.Column("used_seconds", sa.Float(), nullable=False),
        sa.Column("resumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended", sa.String(), nullable=True),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("calendar_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["calendar_id"], ["calendar.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["policy_id"], ["sla_policy.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sla_target_conversation", "sla_target", ["conversation_id", "id"])
    op.create_index("ix_sla_target_fire", "sla_target", ["fire_at"])
    op.create_table(
        "sla_span",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sla_span_conversation", "sla_span", ["conversation_id", "id"])
    # In place, with literal defaults (as 0007): no batch copy of tables others refer to.
    op.add_column("inbox", sa.Column("calendar_id", sa.Integer(), nullable=True))
    op.add_column("inbox", sa.Column("auto_reply", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("team", sa.Column("calendar_id", sa.Integer(), nullable=True))
    op.add_column("conversation", sa.Column("auto_replied_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("sla_status", sa.String(), nullable=True))
    op.create_index("ix_conversation_sla_due_at", "conversation", ["sla_due_at"])
    op.add_column("message", sa.Column("automatic", sa.String(), nullable=True))
    op.add_column("user_preference", sa.Column("notify_sla_breached", sa.Boolean(), nullable=False,
                                               server_default=sa.true()))


def downgrade() -> None:
    op.drop_column("user_preference", "notify_sla_breached")
    op.drop_column("message", "automatic")
    op.drop_index("ix_conversation_sla_due_at", table_name="conversation")
    op.drop_column("conversation", "sla_status")
    op.drop_column("conversation", "sla_due_at")
    op.drop_column("conversation", "auto_replied_at")
    op.drop_column("team", "calendar_id")
    op.drop_column("inbox", "auto_reply")
    op.drop_column("inbox", "calendar_id")
    op.drop_index("ix_sla_span_conversation", table_name="sla_span")
    op.drop_table("sla_span")
    op.drop_index("ix_sla_target_fire", table_name="sla_target")
    op.drop_index("ix_sla_target_conversation", table_name="sla_target")
    op.drop_table("sla_target")
    op.drop_table("sla_policy")
    op.drop_table("calendar")
