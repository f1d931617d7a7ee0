"""risk: passes without control per profile and office; revenue at stake

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("risk_profiles", sa.Column("max_passes", sa.Integer(), nullable=True))
    op.create_table(
        "risk_passes",
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("office", sa.String(length=8), nullable=False),
        sa.Column("passes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["risk_profiles.id"]),
        sa.PrimaryKeyConstraint("profile_id", "office"),
    )
    op.add_column("risk_models", sa.Column("revenue", JSON, nullable=False, server_default=sa.text("'{}'")))
    op.add_column("risk_decisions", sa.Column("revenue_at_stake", sa.Numeric(18, 2), nullable=True))


def downgrade() -> None:
    op.drop_column("risk_decisions", "revenue_at_stake")
    op.drop_column("risk_models", "revenue")
    op.drop_table("risk_passes")
    op.drop_column("risk_profiles", "max_passes")
