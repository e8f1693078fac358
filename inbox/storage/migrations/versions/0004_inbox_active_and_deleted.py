"""Inboxes can be disabled and deleted from the admin page.

``inbox.active``: a disabled inbox still stores what customers send (its webhooks answer
as before, so no customer message is lost and no provider retries or disables the
webhook) but no reply leaves through it. ``inbox.deleted_at``: a deleted inbox keeps its
row, so the conversations and messages that went through it keep their channel and name;
its credentials are erased and its address freed, so webhooks to it are refused and a new
inbox may take the address.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A literal default: SQLite adds the column in place (an expression makes it copy the table).
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # In place (SQLite >= 3.35 drops a column itself): a batch copy of the table could not
    # drop the old one while other tables' rows refer to it.
    op.drop_column("inbox", "deleted_at")
    op.drop_column("inbox", "active")
