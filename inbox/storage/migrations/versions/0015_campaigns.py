"""Campaigns (docs/campaigns.md): a campaign, and one row per recipient written before its
message goes, in the transaction that writes the message; scheduled messages (an agent's
reply for later, the API's reminders).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("quiet_hours", sa.JSON(), nullable=True),
        sa.Column("fallback_minutes", sa.Integer(), nullable=True),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("planned", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_status", "campaign", ["status"])
    op.create_table(
        "campaign_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(), nullable=True),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fallback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "contact_id"),
    )
    op.create_index("ix_campaign_recipient_due", "campaign_recipient", ["campaign_id", "state", "due_at"])
    op.create_index("ix_campaign_recipient_contact", "campaign_recipient", ["contact_id", "sent_at"])
    op.create_index("ix_campaign_recipient_message_id", "campaign_recipient", ["message_id"])
    op.create_index("ix_campaign_recipient_fallback_at", "campaign_recipient", ["fallback_at"])
    op.create_table(
        "scheduled_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("inbox_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("automatic", sa.String(), nullable=True),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("template", sa.JSON(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"]),
        sa.ForeignKeyConstraint(["author_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("author_id", "idempotency_key"),
    )
    op.create_index("ix_scheduled_message_due", "scheduled_message", ["state", "due_at"])
    op.create_index("ix_scheduled_message_conversation_id", "scheduled_message", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_message_conversation_id", table_name="scheduled_message")
    op.drop_index("ix_scheduled_message_due", table_name="scheduled_message")
    op.drop_table("scheduled_message")
    op.drop_index("ix_campaign_recipient_fallback_at", table_name="campaign_recipient")
    op.drop_index("ix_campaign_recipient_message_id", table_name="campaign_recipient")
    op.drop_index("ix_campaign_recipient_contact", table_name="campaign_recipient")
    op.drop_index("ix_campaign_recipient_due", table_name="campaign_recipient")
    op.drop_table("campaign_recipient")
    op.drop_index("ix_campaign_status", table_name="campaign")
    op.drop_table("campaign")
