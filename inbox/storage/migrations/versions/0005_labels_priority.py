"""Labels and priority on conversations, and how long the customer has waited.

``label`` holds the admin-defined labels (a name, unique casefolded as ``name_key``, a
colour, a description); ``conversation_label`` which conversations carry which (a deleted label
leaves them all). ``conversation.priority`` is one of none, low, medium, high, urgent.
``conversation.waiting_since`` is the first customer message no agent has answered yet:
filled here from the messages already stored, then kept by ingest and replies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The earliest inbound message with no agent reply (an outbound message with an author)
# at or after it. Automatic and echoed messages have no author: they answer nothing.
BACKFILL = """
UPDATE conversation SET waiting_since = (
    SELECT min(m.created_at) FROM message m
    WHERE m.conversation_id = conversation.id AND m.direction = 'in'
      AND NOT EXISTS (SELECT 1 FROM message r
                      WHERE r.conversation_id = m.conversation_id AND r.direction = 'out'
                        AND r.author_id IS NOT NULL AND r.created_at >= m.created_at))
"""


def upgrade() -> None:
    op.create_table(
        "label",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_key", sa.String(), nullable=False),
        sa.Column("colour", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name_key"),
    )
    op.create_table(
        "conversation_label",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["label_id"], ["label.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "label_id"),
    )
    op.create_index("ix_conversation_label_label", "conversation_label", ["label_id", "conversation_id"])
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("priority", sa.String(), nullable=False, server_default="none"))
        batch.add_column(sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)


def downgrade() -> None:
    # In place (SQLite >= 3.35 drops a column itself): a batch copy of the table could not
    # drop the old one while other tables' rows refer to it.
    op.drop_column("conversation", "waiting_since")
    op.drop_column("conversation", "priority")
    op.drop_index("ix_conversation_label_label", table_name="conversation_label")
    op.drop_table("conversation_label")
    op.drop_table("label")
