"""The consent ledger (docs/consent.md): opt-ins and opt-outs per contact, channel kind and
purpose. Every identity opted out before it becomes a transactional opt-out record (source
``migration``, at the identity's last message), so nothing is lost; ``opted_out`` stays on
the identities, where the reply channels read it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROOF = "opted out before the consent ledger"


def upgrade() -> None:
    op.create_table(
        "consent_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("proof", sa.String(), nullable=True),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.ForeignKeyConstraint(["identity_id"], ["contact_identity.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consent_record_contact", "consent_record", ["contact_id", "kind", "purpose", "id"])
    op.execute(sa.text(
        "INSERT INTO consent_record (contact_id, kind, purpose, state, source, proof, identity_id, at) "
        "SELECT contact_id, kind, 'transactional', 'opt_out', 'migration', :proof, id, last_seen_at "
        "FROM contact_identity WHERE opted_out ORDER BY id").bindparams(proof=PROOF))


def downgrade() -> None:
    op.drop_index("ix_consent_record_contact", table_name="consent_record")
    op.drop_table("consent_record")
