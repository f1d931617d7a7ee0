"""tariff: origin groups, quotas (balances in thousandths of their unit), measures, import log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:38:01.995416
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tariff_groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "countries",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_groups")),
    )
    op.create_table(
        "tariff_imports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rounding", sa.String(length=16), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("measures", sa.Integer(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_imports")),
    )
    op.create_table(
        "tariff_measures",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hs", sa.String(length=10), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "duty",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column(
            "origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "excluded_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("exporter", sa.String(length=200), nullable=True),
        sa.Column("quota_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_measures")),
    )
    with op.batch_alter_table("tariff_measures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tariff_measures_hs"), ["hs"], unique=False)

    op.create_table(
        "tariff_quotas",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=3), nullable=False),
        sa.Column("volume_milli", sa.BigInteger(), nullable=False),
        sa.Column("balance_milli", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.CheckConstraint("balance_milli >= 0", name=op.f("ck_tariff_quotas_balance_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_quotas")),
    )


def downgrade() -> None:
    op.drop_table("tariff_quotas")
    with op.batch_alter_table("tariff_measures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariff_measures_hs"))

    op.drop_table("tariff_measures")
    op.drop_table("tariff_imports")
    op.drop_table("tariff_groups")
