"""Automation rules and macros (docs/automation.md): the rules, their execution log, the
timers of timed triggers, the macros, and the cursor of the last live event the rules were asked about (set to
the newest event: rules act on what happens from now on, never on the past).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("note", sa.Column("by", sa.JSON(), nullable=True))  # in place: no batch copy
    op.add_column("inbox", sa.Column("keywords", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "automation_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=True),
        sa.Column("match", sa.String(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_automation_rule_trigger", "automation_rule", ["trigger"])
    op.create_table(
        "automation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["automation_rule.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "key"),
    )
    op.create_index("ix_automation_run_rule", "automation_run", ["rule_id", "id"])
    op.create_table(
        "automation_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("armed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["automation_rule.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "conversation_id"),
    )
    op.create_index("ix_automation_timer_due", "automation_timer", ["due_at"])
    op.create_table(
        "automation_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "macro",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_macro_owner_id", "macro", ["owner_id"])
    op.execute("INSERT INTO automation_cursor (id, event_id) SELECT 1, coalesce(max(id), 0) FROM event")


def downgrade() -> None:
    op.drop_index("ix_macro_owner_id", table_name="macro")
    op.drop_table("macro")
    op.drop_column("note", "by")
    op.drop_column("inbox", "keywords")
    op.drop_table("automation_cursor")
    op.drop_index("ix_automation_timer_due", table_name="automation_timer")
    op.drop_table("automation_timer")
    op.drop_index("ix_automation_run_rule", table_name="automation_run")
    op.drop_table("automation_run")
    op.drop_index("ix_automation_rule_trigger", table_name="automation_rule")
    op.drop_table("automation_rule")
