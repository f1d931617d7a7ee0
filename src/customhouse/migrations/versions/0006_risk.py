"""risk: targeting profiles, cache version counters, reference bands, model registry, lane decisions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from customhouse.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INT64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "risk_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("lane", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=True),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("hits", INT64, nullable=False),
        sa.Column("controls", INT64, nullable=False),
        sa.Column("irregular", INT64, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_profiles")),
        sa.UniqueConstraint("code", name=op.f("uq_risk_profiles_code")),
    )
    versions = op.create_table(
        "risk_versions",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("version", INT64, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_risk_versions")),
    )
    op.bulk_insert(versions, [{"name": name, "version": 0} for name in ("profiles", "bands", "model")])
    op.create_table(
        "risk_bands",
        sa.Column("hs6", sa.String(length=6), nullable=False),
        sa.Column("origin", sa.String(length=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("mean", sa.Float(), nullable=False),
        sa.Column("sd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("hs6", "origin", "currency", name=op.f("pk_risk_bands")),
    )
    op.create_table(
        "risk_models",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("trained_from", sa.Date(), nullable=False),
        sa.Column("trained_to", sa.Date(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("promoted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_risk_models")),
    )
    op.create_table(
        "risk_decisions",
        sa.Column("id", INT64, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("lane", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("profile_revision", sa.Integer(), nullable=True),
        sa.Column("matched", JSON, nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("explanation", JSON, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_decisions")),
        sa.UniqueConstraint("event_id", name=op.f("uq_risk_decisions_event_id")),
    )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_risk_decisions_declaration", ["declaration_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_decisions_declaration")
    op.drop_table("risk_decisions")
    op.drop_table("risk_models")
    op.drop_table("risk_bands")
    op.drop_table("risk_versions")
    op.drop_table("risk_profiles")
