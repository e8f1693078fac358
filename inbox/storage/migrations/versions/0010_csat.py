"""Satisfaction surveys: an inbox's setting (``inbox.csat``, {} is off) and the surveys sent,
one per conversation cycle, with what they were asked with and their answer (docs/csat.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, with a literal default (as 0008): no batch copy of a table others refer to.
    op.add_column("inbox", sa.Column("csat", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "csat_survey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("question", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("answer_message_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "cycle"),
    )
    op.create_index("ix_csat_survey_contact", "csat_survey", ["contact_id", "sent_at"])
    op.create_index("ix_csat_survey_answered", "csat_survey", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_csat_survey_answered", table_name="csat_survey")
    op.drop_index("ix_csat_survey_contact", table_name="csat_survey")
    op.drop_table("csat_survey")
    # In place (as 0004): a batch copy could not drop a table other tables' rows refer to.
    op.drop_column("inbox", "csat")
