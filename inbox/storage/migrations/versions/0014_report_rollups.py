"""Report rollups (docs/performance.md, "Reports (issue 16)"): report facts folded by time
bucket, figure and group, and the id of the last fact folded. New tables only; the rollup
worker folds the facts there are after the upgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 18:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_rollup",
        sa.Column("grp", sa.String(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("btotal", sa.Float(), nullable=False),
        sa.Column("hist", sa.String(), nullable=False),
        sa.Column("bhist", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("grp", "width", "start", "name", "key"),
        sqlite_with_rowid=False,
    )
    state = op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(state, [{"id": 1, "upto": 0, "paused": False}])


def downgrade() -> None:
    op.drop_table("report_rollup_state")
    op.drop_table("report_rollup")
