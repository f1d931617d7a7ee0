"""assessments: one per assessed version of a declaration

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

AMOUNT = sa.Numeric(precision=18, scale=3)


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("assessed_at", UTCDateTime(), nullable=False),
        sa.Column("assessed_by", sa.String(length=128), nullable=False),
        sa.Column("declarant_id", sa.String(length=17), nullable=False),
        sa.Column("date_of_law", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("customs_value", AMOUNT, nullable=False),
        sa.Column("total", AMOUNT, nullable=False),
        sa.Column("difference", AMOUNT, nullable=False),
        sa.Column("paid_before", AMOUNT, nullable=False),
        sa.Column("owed", AMOUNT, nullable=False),
        sa.Column("refund", AMOUNT, nullable=False),
        sa.Column(
            "breakdown",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "quotas",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("declaration_id", "version", name=op.f("pk_assessments")),
    )


def downgrade() -> None:
    op.drop_table("assessments")
