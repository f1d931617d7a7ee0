"""analytics: daily rollups (per lodgement day, lane, office, transport mode; per officer) and each
declaration's revenue in the read model

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("analytics_declarations", sa.Column("revenue", sa.Numeric(18, 2), nullable=True))
    op.create_table(
        "analytics_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lane", sa.String(length=8), nullable=False),
        sa.Column("office", sa.String(length=8), nullable=False),
        sa.Column("transport_mode", sa.String(length=1), nullable=False),
        sa.Column("lodged", sa.Integer(), nullable=False),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("within_hour", sa.Integer(), nullable=False),
        sa.Column("controls", sa.Integer(), nullable=False),
        sa.Column("irregular", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(18, 2), nullable=False),
        sa.Column("release_histogram", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("day", "lane", "office", "transport_mode", name=op.f("pk_analytics_days")),
    )
    op.create_table(
        "analytics_officer_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("officer", sa.String(length=128), nullable=False),
        sa.Column("controls", sa.Integer(), nullable=False),
        sa.Column("releases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "officer", name=op.f("pk_analytics_officer_days")),
    )


def downgrade() -> None:
    op.drop_table("analytics_officer_days")
    op.drop_table("analytics_days")
    op.drop_column("analytics_declarations", "revenue")
