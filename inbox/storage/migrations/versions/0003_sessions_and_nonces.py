"""Server-side session versions, and the signed webhook tokens already used.

``user.session_version`` is written into each session cookie at login and compared on
every request and open WebSocket: logging out, changing the password, deactivating the
user or "log out everywhere" bump it, and every earlier cookie stops working at once.
``webhook_nonce`` remembers the one-time tokens of signed webhooks (Mailgun's
``token``) until their timestamp would be refused as stale anyway, so a captured post
cannot be replayed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "webhook_nonce",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_webhook_nonce_expires_at", "webhook_nonce", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_nonce_expires_at", table_name="webhook_nonce")
    op.drop_table("webhook_nonce")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("session_version")
