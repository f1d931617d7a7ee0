"""web and analytics: the declarations read model behind the dashboards, certificates per declaration

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from customhouse.db import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_declarations",
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("office", sa.String(length=8), nullable=False),
        sa.Column("transport_mode", sa.String(length=1), nullable=False),
        sa.Column("lane", sa.String(length=8), nullable=False),
        sa.Column("lodged_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("release_seconds", sa.Float(), nullable=True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("control_outcome", sa.String(length=16), nullable=True),
        sa.Column("controlled_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("declaration_id", name=op.f("pk_analytics_declarations")),
    )
    included = [
        "lane",
        "office",
        "transport_mode",
        "released_at",
        "release_seconds",
        "released_by",
        "control_outcome",
        "controlled_by",
    ]
    op.create_index(
        "ix_analytics_declarations_lodged",
        "analytics_declarations",
        ["lodged_at"],
        postgresql_include=included,  # an index-only scan reads a period on PostgreSQL
    )
    op.create_index(
        "ix_analytics_declarations_office_lodged", "analytics_declarations", ["office", "lodged_at"]
    )
    op.create_table(
        "analytics_items",
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("hs_section", sa.String(length=5), nullable=False),
        sa.Column("origin", sa.String(length=2), nullable=False),
        sa.Column("office", sa.String(length=8), nullable=False),
        sa.Column("lodged_at", UTCDateTime(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.PrimaryKeyConstraint("declaration_id", "sequence", name=op.f("pk_analytics_items")),
    )
    op.create_index("ix_analytics_items_lodged", "analytics_items", ["lodged_at"])
    op.create_table(
        "web_certificates",
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("declaration_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_web_certificates")),
    )
    op.create_index(op.f("ix_web_certificates_declaration_id"), "web_certificates", ["declaration_id"])


def downgrade() -> None:
    op.drop_index("ix_analytics_items_lodged", table_name="analytics_items")
    op.drop_table("analytics_items")
    op.drop_index(op.f("ix_web_certificates_declaration_id"), table_name="web_certificates")
    op.drop_table("web_certificates")
    op.drop_index("ix_analytics_declarations_office_lodged", table_name="analytics_declarations")
    op.drop_index("ix_analytics_declarations_lodged", table_name="analytics_declarations")
    op.drop_table("analytics_declarations")
