"""Reports: the facts they count, the calendar versions business time was counted in, and
where each conversation's reports stand.

``report_fact`` is append-only: one row per cycle begun, message, first response, reply,
resolution, SLA target met or missed and satisfaction answer, written with the event
(docs/metrics.md). ``calendar_version`` keeps each version of a calendar, ``inbox_calendar``
which calendar each inbox pointed at from when; what they are now is written here, valid
from the calendar's or inbox's creation (the history before this revision was not kept).
Conversations get their cycle number and start, when they were first answered in it, and
the satisfaction survey awaiting an answer. Facts for what
happened before this revision come from ``inbox reports rebuild``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_version",
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("intervals", sa.JSON(), nullable=False),
        sa.Column("exceptions", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("calendar_id", "version"),
    )
    op.execute("INSERT INTO calendar_version (calendar_id, version, timezone, intervals, exceptions, valid_from) "
               "SELECT id, version, timezone, intervals, exceptions, created_at FROM calendar")
    op.create_table(
        "inbox_calendar",
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("inbox_id", "valid_from"),
    )
    op.execute("INSERT INTO inbox_calendar (inbox_id, valid_from, calendar_id) "
               "SELECT id, created_at, calendar_id FROM inbox WHERE calendar_id IS NOT NULL")
    op.create_table(
        "report_fact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("business_seconds", sa.Float(), nullable=True),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("calendar_version", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_fact_kind_at", "report_fact", ["kind", "at", "outcome", "seconds", "business_seconds",
                                                              "score", "channel", "inbox_id", "team_id", "agent_id"])
    op.create_index("ix_report_fact_conversation", "report_fact", ["conversation_id", "cycle"])
    op.add_column("conversation", sa.Column("cycle", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("conversation", sa.Column("cycle_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conversation", sa.Column("csat_survey_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("conversation", "csat_survey_id")
    op.drop_column("conversation", "responded_at")
    op.drop_column("conversation", "cycle_started_at")
    op.drop_column("conversation", "cycle")
    op.drop_index("ix_report_fact_conversation", table_name="report_fact")
    op.drop_index("ix_report_fact_kind_at", table_name="report_fact")
    op.drop_table("report_fact")
    op.drop_table("inbox_calendar")
    op.drop_table("calendar_version")
